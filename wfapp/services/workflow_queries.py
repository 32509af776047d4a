"""Reading workflows: filters named as GET /api/workflows and the monitor name them, keyset
cursors, lists of workflows and of a workflow's events."""

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import ValidationFailed
from wfapp.models import TemplateVersion, Workflow, WorkflowEvent, WorkflowStatus, WorkflowTemplate
from wfapp.services.filters import equal_to, within
from wfapp.services.workflow_lookup import template_of, version_of
from wfapp.services.workflow_templates import find_workflow_template


@dataclass
class WorkflowRow:
    workflow: Workflow
    template_name: str
    version_number: int
    # The template version (its timers: when the next one fires); None where nobody reads it.
    version: TemplateVersion | None = None


def workflow_row(session: so.Session, wf: Workflow) -> WorkflowRow:
    version = version_of(session, wf)
    return WorkflowRow(wf, template_of(session, wf).name, version.number, version)


def with_versions(session: so.Session, rows: list[WorkflowRow]) -> list[WorkflowRow]:
    """Give the rows of waiting workflows their template version (for `next_timer`): one query
    for the page, whatever its length."""
    wanted = {r.workflow.template_version_id for r in rows if r.workflow.waiting_for is not None}
    if not wanted:
        return rows
    versions = {v.id: v for v in session.scalars(sa.select(TemplateVersion).where(TemplateVersion.id.in_(wanted)))}
    for r in rows:
        r.version = versions.get(r.workflow.template_version_id)
    return rows


@dataclass
class WorkflowFilters:
    status: list[str] | None = None
    template_id: uuid.UUID | None = None
    version: int | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    waiting_for: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    interaction_after: datetime | None = None
    interaction_before: datetime | None = None
    state_field: str | None = None
    state_value: str | None = None
    state_match: str = "equals"  # or "contains"


STATUS_VALUES = tuple(s.value for s in WorkflowStatus)


def _query_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [{"path": f"/query/{name}", "message": message}])


def _date_arg(args: Mapping[str, str], name: str) -> datetime | None:
    value = args.get(name)
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _query_error(name, "must be an ISO 8601 date or timestamp") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def filters_from_query(session: so.Session, args: Mapping[str, str]) -> WorkflowFilters:
    """The filters of a query string, named as GET /api/workflows and the monitor name them."""
    statuses = [s for s in (args.get("status") or "").split(",") if s]
    for s in statuses:
        if s not in STATUS_VALUES:
            raise _query_error("status", f"{s!r} is not one of {', '.join(STATUS_VALUES)}")
    f = WorkflowFilters(
        status=statuses or None,
        user_id=args.get("user_id") or None,
        conversation_id=args.get("conversation_id") or None,
        waiting_for=args.get("waiting_for") or None,
        started_after=_date_arg(args, "started_after"),
        started_before=_date_arg(args, "started_before"),
        interaction_after=_date_arg(args, "last_interaction_after"),
        interaction_before=_date_arg(args, "last_interaction_before"),
    )
    if args.get("template"):
        template = find_workflow_template(session, args["template"])
        if template is None:
            raise _query_error("template", "no such workflow template")
        f.template_id = template.id
        if args.get("version"):
            if not args["version"].isdigit() or len(args["version"]) > 9:
                raise _query_error("version", "must be a version number")
            f.version = int(args["version"])
    if args.get("field"):
        f.state_field = args["field"]
        f.state_value = args.get("value", "")
        f.state_match = "contains" if args.get("match") == "contains" else "equals"
    return f


def encode_cursor(started_at: datetime, wid: uuid.UUID) -> str:
    raw = json.dumps([started_at.isoformat(), str(wid)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, wid = json.loads(raw)
        return datetime.fromisoformat(ts), uuid.UUID(wid)
    except (ValueError, TypeError):
        raise ValidationFailed(
            "invalid cursor", [{"path": "/cursor", "message": "is not a cursor this API gave"}]
        ) from None


def filtered_workflows_query(session: so.Session, f: WorkflowFilters) -> sa.Select:
    q = (
        sa.select(Workflow, WorkflowTemplate.name, TemplateVersion.number)
        .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
        .join(TemplateVersion, TemplateVersion.id == Workflow.template_version_id)
    )
    if f.status:
        q = q.where(Workflow.status.in_(f.status))
    if f.template_id:
        q = q.where(Workflow.template_id == f.template_id)
        if f.version:
            q = q.where(TemplateVersion.number == f.version)
    q = equal_to(q, Workflow, f, "user_id", "conversation_id")
    q = within(q, Workflow.started_at, f.started_after, f.started_before)
    q = within(q, Workflow.last_interaction_at, f.interaction_after, f.interaction_before)
    if f.waiting_for:
        q = q.where(
            Workflow.status == WorkflowStatus.WAITING, Workflow.waiting_for["name"].as_string() == f.waiting_for
        )
    if f.state_field and f.state_value is not None:
        value = Workflow.state_data[f.state_field].as_string()
        if f.state_match == "contains":
            q = q.where(value.contains(f.state_value, autoescape=True))
        else:
            q = q.where(value == f.state_value)
    return q


def list_workflows(
    session: so.Session, f: WorkflowFilters, limit: int = 50, cursor: str | None = None
) -> tuple[list[WorkflowRow], str | None]:
    """Newest first, by keyset (started_at, id) on an index: no OFFSET."""
    q = filtered_workflows_query(session, f)
    if cursor:
        ts, wid = decode_cursor(cursor)
        q = q.where(
            sa.tuple_(Workflow.started_at, Workflow.id)
            < sa.tuple_(sa.literal(ts, Workflow.started_at.type), sa.literal(wid, sa.Uuid))
        )
    q = q.order_by(Workflow.started_at.desc(), Workflow.id.desc()).limit(limit + 1)
    rows = [WorkflowRow(wf, name, number) for wf, name, number in session.execute(q)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1].workflow
        next_cursor = encode_cursor(last.started_at, last.id)
    return with_versions(session, rows), next_cursor


def list_events(session: so.Session, wf: Workflow, after_seq: int = 0, limit: int = 500) -> list[WorkflowEvent]:
    return list(
        session.scalars(
            sa.select(WorkflowEvent)
            .where(WorkflowEvent.workflow_id == wf.id, WorkflowEvent.seq > after_seq)
            .order_by(WorkflowEvent.seq)
            .limit(limit)
        )
    )
