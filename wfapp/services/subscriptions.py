"""Webhook subscriptions (admins): a URL, the public event types it wants, optionally limited to
some workflow templates (by name), and a signing secret of its own, generated, shown once on
creation and never again (not in answers, lists or logs)."""

import secrets
from typing import Any

import sqlalchemy as sa

from wfapp.errors import NotFound, ValidationFailed
from wfapp.models import EventSubscription, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.schemas.definitions import ENDPOINT
from wfapp.services import public_events
from wfapp.services.staff import record_staff_action

SUBSCRIPTION_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": ENDPOINT,
        "event_types": {
            "type": "array",
            "items": {"type": "string", "enum": list(public_events.EVENT_TYPES)},
            "minItems": 1,
            "uniqueItems": True,
        },
        "templates": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "uniqueItems": True,
            "maxItems": 100,
        },
        "description": {"type": "string", "maxLength": 200},
        "is_active": {"type": "boolean"},
    },
    "additionalProperties": False,
}
SUBSCRIPTION_CREATE = {**SUBSCRIPTION_BODY, "required": ["url", "event_types"]}


class SubscriptionNotFound(NotFound):
    title = "Event subscription not found"


def _check_templates(session, names: list[str]) -> None:
    if not names:
        return
    known = set(session.scalars(sa.select(WorkflowTemplate.name).where(WorkflowTemplate.name.in_(names))))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed(
            "unknown workflow template(s): " + ", ".join(unknown),
            [{"path": "/templates", "message": f"no workflow template named {n!r}"} for n in unknown],
        )


def _check(body: dict[str, Any], required: bool) -> None:
    from wfapp.services.validation import schema_errors

    errors = schema_errors(SUBSCRIPTION_CREATE if required else SUBSCRIPTION_BODY, body)
    if errors:
        raise ValidationFailed("; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors[:5]), errors)


def create_subscription(
    session, body: dict[str, Any], actor: str, remote_addr: str = ""
) -> tuple[EventSubscription, str]:
    """The new subscription and its signing secret (returned this once)."""
    _check(body, True)
    _check_templates(session, body.get("templates") or [])
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = EventSubscription(
        url=body["url"],
        event_types=list(body["event_types"]),
        templates=list(body.get("templates") or []),
        description=body.get("description", ""),
        is_active=body.get("is_active", True),
        secret=secret,
        created_by=actor,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(sub)
    session.flush()
    record_staff_action(
        session,
        actor,
        "subscription_created",
        "event_subscription",
        str(sub.id),
        {"url": sub.url, "event_types": sub.event_types},
        remote_addr,
    )
    public_events.invalidate(session)
    return sub, secret


def get_subscription(session, sub_id) -> EventSubscription:
    try:
        sid = int(sub_id)
    except (TypeError, ValueError):
        raise SubscriptionNotFound(f"no event subscription {sub_id!r}") from None
    sub = session.get(EventSubscription, sid)
    if sub is None:
        raise SubscriptionNotFound(f"no event subscription {sub_id}")
    return sub


def list_subscriptions(session) -> list[EventSubscription]:
    return list(session.scalars(sa.select(EventSubscription).order_by(EventSubscription.id)))


def update_subscription(session, sub_id, body: dict[str, Any], actor: str, remote_addr: str = "") -> EventSubscription:
    _check(body, False)
    sub = get_subscription(session, sub_id)
    if "templates" in body:
        _check_templates(session, body["templates"])
    for key in ("url", "event_types", "templates", "description", "is_active"):
        if key in body:
            setattr(sub, key, list(body[key]) if isinstance(body[key], list) else body[key])
    sub.updated_at = utcnow()
    record_staff_action(
        session, actor, "subscription_changed", "event_subscription", str(sub.id), {"fields": sorted(body)}, remote_addr
    )
    public_events.invalidate(session)
    return sub


def delete_subscription(session, sub_id, actor: str, remote_addr: str = "") -> None:
    sub = get_subscription(session, sub_id)
    record_staff_action(
        session, actor, "subscription_deleted", "event_subscription", str(sub.id), {"url": sub.url}, remote_addr
    )
    session.delete(sub)
    public_events.invalidate(session)


def subscription_json(sub: EventSubscription, secret: str | None = None) -> dict[str, Any]:
    out = {
        "id": sub.id,
        "url": sub.url,
        "event_types": sub.event_types,
        "templates": sub.templates,
        "description": sub.description,
        "is_active": sub.is_active,
        "created_by": sub.created_by,
        "created_at": sub.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": sub.updated_at.isoformat().replace("+00:00", "Z"),
    }
    if secret is not None:
        out["secret"] = secret
    return out
