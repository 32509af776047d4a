"""Public events: webhook subscriptions (/api/event-subscriptions, admins), the pull feed
(GET /api/events, long-polling), and suspending a workflow (/api/workflows/{id}/suspend|resume)."""

import time
from typing import Any

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.auth import ADMIN
from wfapp.api.openapi import LISTS, RESPONSE_SCHEMAS, TS, _list_of, answer, typed
from wfapp.api.presets import WORKFLOW_ACTION, OperationPresets, items_response, limit_arg
from wfapp.api.workflows import _workflow_response
from wfapp.db_setup import begin_write
from wfapp.errors import ValidationFailed
from wfapp.extensions import db
from wfapp.models import TokenRole
from wfapp.services import public_events, suspension
from wfapp.services import subscriptions as svc

FEED_READERS = frozenset({TokenRole.ADMIN, TokenRole.INTEGRATION})
ops = OperationPresets(bp, tag="events", reads=ADMIN)
MAX_WAIT_S = 30.0
POLL_S = 0.2

RESPONSE_SCHEMAS["EventSubscription"] = answer(
    {
        "id": {"type": "integer"},
        **typed("string", "url", "description", "secret", "created_by"),
        "event_types": {"type": "array", "items": {"type": "string"}},
        "templates": {"type": "array", "items": {"type": "string"}},
        "is_active": {"type": "boolean"},
        "created_at": TS,
        "updated_at": TS,
    },
    "id",
    "url",
    "event_types",
    "templates",
    "is_active",
    description="A webhook subscription; `secret` is in the answer that creates it, and never again.",
)
RESPONSE_SCHEMAS["PublicEvent"] = answer(
    {
        "cursor": {"type": "integer"},
        "id": {"type": "string", "description": "stable event id (the webhook's Idempotency-Key)"},
        "type": {"type": "string", "enum": list(public_events.EVENT_TYPES)},
        "created_at": TS,
        **typed("string", "workflow_id", "template", "actor"),
        "seq": {"type": "integer", "description": "order of the events of one workflow"},
        "data": {"type": "object"},
    },
    "cursor",
    "id",
    "type",
    "workflow_id",
    "seq",
)
LISTS["EventSubscriptionList"] = _list_of("EventSubscription")
LISTS["PublicEventFeed"] = _list_of(
    "PublicEvent",
    {
        "next": {"type": "integer"},
        "truncated": {
            "type": "boolean",
            "description": "events after `after` were deleted by retention: the answer starts at the oldest kept",
        },
    },
)
SUSPEND_BODY = {
    "type": "object",
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
    "required": ["reason"],
    "additionalProperties": False,
}


@ops.read("/event-subscriptions", "Webhook subscriptions", "EventSubscriptionList")
def list_event_subscriptions():
    return items_response(svc.list_subscriptions(db.session), svc.subscription_json)


@ops.create(
    "/event-subscriptions",
    "Subscribe a URL to public events (the answer holds the signing secret, shown once)",
    svc.SUBSCRIPTION_CREATE,
    "EventSubscriptionCreate",
    "EventSubscription",
    errors=(422,),
)
def create_event_subscription(body):
    sub, secret = svc.create_subscription(db.session, body, g.actor, request.remote_addr or "")
    answer = svc.subscription_json(sub, secret)
    db.session.commit()
    return jsonify(answer), 201


@ops.read("/event-subscriptions/<int:subscription_id>", "A webhook subscription", "EventSubscription")
def get_event_subscription(subscription_id):
    return jsonify(svc.subscription_json(svc.get_subscription(db.session, subscription_id)))


@ops.change(
    "/event-subscriptions/<int:subscription_id>",
    "Change a webhook subscription (url, event_types, templates, description, is_active)",
    svc.SUBSCRIPTION_BODY,
    "EventSubscriptionUpdate",
    "EventSubscription",
    errors=(422,),
)
def update_event_subscription(subscription_id, body):
    sub = svc.update_subscription(db.session, subscription_id, body, g.actor, request.remote_addr or "")
    answer = svc.subscription_json(sub)
    db.session.commit()
    return jsonify(answer)


@ops.delete(
    "/event-subscriptions/<int:subscription_id>", "Delete a webhook subscription (its queued deliveries are dropped)"
)
def delete_event_subscription(subscription_id):
    svc.delete_subscription(db.session, subscription_id, g.actor, request.remote_addr or "")
    db.session.commit()
    return "", 204


FEED_QUERY: list[dict[str, Any]] = [
    {"name": "after", "schema": {"type": "integer", "minimum": 0}, "description": "`next` of the previous answer"},
    {"name": "wait", "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S}, "description": "long-poll s"},
    {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "types", "schema": {"type": "string"}, "description": "comma-separated event types"},
]


def _feed_args() -> tuple[int, float, int, set[str]]:
    errors = []
    after = request.args.get("after", "0")
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        errors.append({"path": "/query/after", "message": "must be a cursor (`next` of an earlier answer)"})
    try:
        wait = float(request.args.get("wait", "0"))
        if not 0 <= wait <= MAX_WAIT_S:
            raise ValueError
    except ValueError:
        errors.append({"path": "/query/wait", "message": f"must be a number of seconds from 0 to {MAX_WAIT_S:g}"})
        wait = 0
    limit = limit_arg(100, 500)
    types = {t for t in (request.args.get("types") or "").split(",") if t}
    unknown = types - set(public_events.EVENT_TYPES)
    if unknown:
        errors.append({"path": "/query/types", "message": f"unknown event type(s): {', '.join(sorted(unknown))}"})
    if errors:
        raise ValidationFailed("; ".join(e["message"] for e in errors), errors)
    return int(after) if after.isdigit() else 0, wait, limit, types


@ops.read(
    "/events",
    "The public events in order, after a cursor; waits up to `wait` seconds for new ones",
    "PublicEventFeed",
    roles=FEED_READERS,
    errors=(422,),
    query=FEED_QUERY,
)
def event_feed():
    after, wait, limit, types = _feed_args()
    deadline = time.monotonic() + wait
    session = db.session
    while True:
        session.commit()  # end the read transaction of the token check / the previous poll
        if public_events.has_unpositioned(session):
            session.commit()
            begin_write(session)
            public_events.assign_positions(session)
            session.commit()
        events = public_events.read_feed(session, after, limit, types or None)
        if events or time.monotonic() >= deadline:
            break
        session.close()  # no connection held while waiting
        time.sleep(POLL_S)
    items = [{"cursor": e.position, **public_events.body(e)} for e in events]
    nxt = events[-1].position if events else after
    # positions are given without gaps: a first kept one past after + 1 means that retention
    # deleted events the reader has not seen
    oldest = public_events.oldest_position(session) if not events or events[0].position > after + 1 else None
    session.commit()
    return jsonify({"items": items, "next": nxt, "truncated": oldest is not None and oldest > after + 1})


@ops(
    "/workflows/<workflow_id>/suspend",
    "POST",
    summary="Suspend an open workflow: writes refused, no timers, no dependency calls until resumed",
    body=SUSPEND_BODY,
    body_name="Suspension",
    **WORKFLOW_ACTION,
)
def suspend_workflow(workflow_id, body):
    wf = suspension.suspend(db.session, workflow_id, body["reason"], g.actor)
    resp = _workflow_response(wf)
    db.session.commit()
    return resp


@ops(
    "/workflows/<workflow_id>/resume",
    "POST",
    summary="Resume a suspended workflow",
    **WORKFLOW_ACTION,
)
def resume_workflow(workflow_id):
    wf = suspension.resume(db.session, workflow_id, g.actor)
    resp = _workflow_response(wf)
    db.session.commit()
    return resp
