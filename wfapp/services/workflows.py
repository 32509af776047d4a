"""Workflows: start, merge state, complete, cancel, fail. Every change writes one event in the
same transaction, and runs under a row lock (SQLite: the one writer; PostgreSQL: FOR UPDATE)."""

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wfapp.models import (
    OPEN_STATUSES,
    EndUser,
    Permission,
    TemplateVersion,
    Workflow,
    WorkflowEvent,
    WorkflowStatus,
    WorkflowTemplate,
)
from wfapp.models.types import utcnow
from wfapp.models.workflows import OPEN_WORKFLOW_PREDICATE
from wfapp.outbox.jobs import enqueue_end_action
from wfapp.schemas.state_schema import CompiledSchema, compiled_for_version, tool_definition
from wfapp.services import dependencies, timers
from wfapp.services.errors import (
    Conflict,
    DependencyPending,
    InvalidTransition,
    PermissionDenied,
    PreconditionFailed,
    StateValidationError,
    ValidationFailed,
    WorkflowNotFound,
)
from wfapp.services.events import record_event, state_diff
from wfapp.services.workflow_templates import find_workflow_template

TERMINAL_TARGETS = (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED, WorkflowStatus.FAILED)


def parse_workflow_id(workflow_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(workflow_id, uuid.UUID):
        return workflow_id
    try:
        return uuid.UUID(str(workflow_id))
    except ValueError:
        raise WorkflowNotFound(f"no workflow {workflow_id!r}") from None


def get_workflow(session, workflow_id, *, lock: bool = False) -> Workflow:
    """The workflow; with lock=True, locked for the rest of the transaction and re-read."""
    wid = parse_workflow_id(workflow_id)
    if lock:
        wf = session.scalar(
            sa.select(Workflow).where(Workflow.id == wid).with_for_update().execution_options(populate_existing=True)
        )
    else:
        wf = session.get(Workflow, wid)
    if wf is None:
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return wf


def _lock_with_definition(session, workflow_id) -> tuple[Workflow, TemplateVersion, WorkflowTemplate]:
    """The workflow locked for the rest of the transaction and re-read, with its version and
    workflow template, in one statement (PostgreSQL locks the workflow's row only). Both are
    kept on the workflow (its `version` and `template`), so that later look-ups of them in this
    session (dependencies, the outbox, the response) come from the identity map, not the
    database."""
    wf, _ = _locked(session, workflow_id)
    return wf, wf.version, wf.template


def _locked(session, workflow_id, *, with_waiting_siblings: bool = False) -> tuple[Workflow, bool]:
    """_lock_with_definition's statement; with_waiting_siblings also tells, in the same
    statement, whether the same end user has other workflows waiting (on this one, maybe)."""
    wid = parse_workflow_id(workflow_id)
    siblings = sa.literal(False)
    if with_waiting_siblings:
        other = so.aliased(Workflow)
        siblings = (
            sa.select(other.id)
            .where(other.user_id == Workflow.user_id, other.id != Workflow.id, other.status == WorkflowStatus.WAITING)
            .exists()
        )
    row = session.execute(
        sa.select(Workflow, siblings)
        .join(Workflow.version)
        .join(Workflow.template)
        .where(Workflow.id == wid)
        .options(
            so.contains_eager(Workflow.version),
            so.contains_eager(Workflow.template).lazyload(WorkflowTemplate.current_version),
        )
        .with_for_update(of=Workflow)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return row[0], bool(row[1])


def _loaded(wf: Workflow, name: str):
    """A relationship of the workflow when it is loaded already (else None: they are lazy="raise")."""
    return sa.inspect(wf).dict.get(name)


def version_of(session, wf: Workflow) -> TemplateVersion:
    return _loaded(wf, "version") or session.get(TemplateVersion, wf.template_version_id)


def schema_of(session, wf: Workflow) -> CompiledSchema:
    return compiled_for_version(version_of(session, wf))


def check_if_match(wf: Workflow, if_match: str | None) -> None:
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags:
        return
    if wf.etag not in [t.removeprefix("W/") for t in tags]:
        raise PreconditionFailed(
            "the workflow changed since you read it: fetch it again and re-apply your change",
            current_etag=wf.etag,
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge recursively, a null removes the key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _touch(wf: Workflow, interaction: bool = True) -> None:
    now = utcnow()
    wf.updated_at = now
    if interaction:
        wf.last_interaction_at = now
    wf.row_version += 1


def start_workflow(
    session, template_ref: str, conversation_id: str, user_id: str, actor: str, state_data: dict[str, Any] | None = None
) -> Workflow:
    template = find_workflow_template(session, template_ref)
    if template is None:
        raise ValidationFailed(
            f"no workflow template {template_ref!r}",
            [{"path": "/template_id", "message": f"no workflow template {template_ref!r}"}],
        )
    # The end user and whether its user type is granted the template (services.directory's
    # is_granted: a permissions row for the pair), in one statement.
    granted = (
        sa.select(Permission.id)
        .where(Permission.user_type_id == EndUser.user_type_id, Permission.workflow_template_id == template.id)
        .exists()
    )
    found = session.execute(sa.select(EndUser, granted).where(EndUser.id == user_id)).first()
    if found is None:
        raise ValidationFailed(
            f"no end user {user_id!r}",
            [{"path": "/user_id", "message": f"no end user {user_id!r}: register it with POST /api/users"}],
        )
    user, is_granted_ = found
    if not template.is_active:
        raise Conflict(f"workflow template {template.name!r} is not active")
    if not is_granted_:
        raise PermissionDenied(f"user type {user.user_type_id!r} may not start workflow template {template.name!r}")
    version = template.current_version
    compiled = compiled_for_version(version)
    state = merge_patch(compiled.defaults(), state_data or {})
    errors = compiled.validate_merge(state, state)
    if errors:
        raise StateValidationError(f"{len(errors)} field(s) of state_data are invalid", errors)
    now = utcnow()
    wf = Workflow(
        id=uuid.uuid4(),
        template_id=template.id,
        template_version_id=version.id,
        conversation_id=conversation_id,
        user_id=user_id,
        status=WorkflowStatus.ACTIVE,
        state_data=state,
        pending_dependencies={},
        waiting_for=None,
        row_version=1,
        event_seq=0,
        status_reason="",
        completed_at=None,
        started_at=now,
        last_interaction_at=now,
        updated_at=now,
    )
    with session.no_autoflush:
        # the first event's seq goes into the INSERT; the event itself is flushed after it
        started = record_event(
            session,
            wf,
            "started",
            actor,
            {
                "template": template.name,
                "version": version.number,
                "status": {"to": "active"},
                "diff": state_diff({}, state),
            },
        )
        # One statement that cannot fail on a second open workflow in the conversation (the
        # partial unique index decides, also between concurrent starts): no savepoint needed.
        inserted = session.execute(
            _insert_for(session)(Workflow)
            .values(**{c.key: getattr(wf, c.key) for c in Workflow.__table__.columns})
            .on_conflict_do_nothing(
                index_elements=["template_id", "conversation_id"], index_where=sa.text(OPEN_WORKFLOW_PREDICATE)
            )
            .returning(Workflow.id)
        ).scalar()
    if inserted is None:
        session.expunge(started)
        existing = open_workflow_in_conversation(session, template.id, conversation_id)
        raise Conflict(
            f"conversation {conversation_id!r} already has an open {template.name!r} workflow"
            + (f": {existing}" if existing else ""),
            existing_id=str(existing) if existing else None,
        )
    so.make_transient_to_detached(wf)
    session.add(wf)  # persistent with everything loaded: no SELECT to read back what was written
    # keep them on the workflow: the rest of the request reads them from there
    so.attributes.set_committed_value(wf, "template", template)
    so.attributes.set_committed_value(wf, "version", version)
    dependencies.on_start(session, wf, version, actor)
    return wf


def _insert_for(session):
    """INSERT with ON CONFLICT for the session's database."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def open_workflow_in_conversation(session, template_id, conversation_id: str):
    return session.scalar(
        sa.select(Workflow.id).where(
            Workflow.template_id == template_id,
            Workflow.conversation_id == conversation_id,
            Workflow.status.in_(OPEN_STATUSES),
        )
    )


def _apply_state(
    session, wf: Workflow, compiled: CompiledSchema, patch: dict[str, Any], actor: str, source: str
) -> dict[str, Any]:
    before = wf.state_data or {}
    after = merge_patch(before, patch)
    errors = compiled.validate_merge(after, patch.keys())
    if errors:
        raise StateValidationError(f"{len(errors)} field(s) of state_data are invalid", errors)
    diff = state_diff(before, after)
    if diff:
        wf.state_data = after  # a new object: SQLAlchemy does not see in-place changes
        record_event(session, wf, "state_updated", actor, {"diff": diff, "source": source})
    return diff


def merge_state(
    session, workflow_id, patch: dict[str, Any], actor: str, *, if_match: str | None = None, source: str = "api"
) -> Workflow:
    wf, version, _template = _lock_with_definition(session, workflow_id)
    timers.refuse_if_suspended(wf)
    check_if_match(wf, if_match)
    if wf.is_terminal:
        raise InvalidTransition(f"the workflow is {wf.status}: its state_data can no longer change")
    compiled = compiled_for_version(version)
    diff = _apply_state(session, wf, compiled, patch, actor, source)
    _touch(wf)
    if diff:
        dependencies.on_state_changed(session, wf, set(diff.get("set", {})) | set(diff.get("removed", [])), actor)
    return wf


def change_status(
    session,
    workflow_id,
    status: str,
    actor: str,
    *,
    reason: str = "",
    patch: dict[str, Any] | None = None,
    if_match: str | None = None,
    source: str = "api",
) -> Workflow:
    """The status changes a client or operator may ask for: completed, cancelled, failed
    (optionally with a state merge in the same call). Asking for the current status of an open
    workflow only merges."""
    try:
        target = WorkflowStatus(status)
    except ValueError:
        raise ValidationFailed(
            f"unknown status {status!r}", [{"path": "/status", "message": f"unknown status {status!r}"}]
        ) from None
    wf, waiting_siblings = _locked(session, workflow_id, with_waiting_siblings=target == WorkflowStatus.COMPLETED)
    version = wf.version
    timers.refuse_if_suspended(wf, target)
    check_if_match(wf, if_match)
    if wf.is_terminal:
        raise InvalidTransition(
            f"the workflow is {wf.status}: it cannot become {target}", current_status=str(wf.status)
        )
    compiled = compiled_for_version(version)
    if patch:
        _apply_state(session, wf, compiled, patch, actor, source)
    if target == wf.status:
        _touch(wf)
        return wf
    if target not in TERMINAL_TARGETS:
        raise InvalidTransition(
            f"a {wf.status} workflow cannot be set to {target}: it becomes active by itself "
            "when its dependencies resolve",
            current_status=str(wf.status),
        )
    if target == WorkflowStatus.COMPLETED:
        errors = compiled.validate_complete(wf.state_data or {})
        if errors:
            raise StateValidationError(
                f"the workflow cannot complete: {len(errors)} field(s) missing or invalid", errors
            )
        dependencies.before_complete(session, wf, version, actor)
        if wf.status == WorkflowStatus.WAITING or dependencies.pending(wf):
            raise DependencyPending(
                "the workflow waits on " + ", ".join(dependencies.pending(wf)) + "; complete it when they resolve",
                waiting_for=wf.waiting_for,
            )
    _set_terminal(session, wf, target, actor, reason, version, waiting_siblings=waiting_siblings)
    return wf


def _set_terminal(
    session,
    wf: Workflow,
    target: WorkflowStatus,
    actor: str,
    reason: str,
    version: TemplateVersion | None = None,
    *,
    waiting_siblings: bool = True,
) -> None:
    previous = str(wf.status)
    wf.status = target
    wf.status_reason = reason or ""
    now = utcnow()
    if target == WorkflowStatus.COMPLETED:
        wf.completed_at = now
    wf.waiting_for = None
    _touch(wf)
    record_event(
        session,
        wf,
        "status_changed",
        actor,
        {"status": {"from": previous, "to": str(target)}, **({"reason": reason} if reason else {})},
    )
    if target == WorkflowStatus.COMPLETED:
        enqueue_end_action(session, wf, version or version_of(session, wf))
        if waiting_siblings:  # no other workflow of the user waits: none can wait on this one
            dependencies.on_workflow_completed(session, wf, actor)


def fail_workflow(session, wf: Workflow, actor: str, reason: str) -> None:
    """Fail an open workflow that is already locked (dependency failures use this)."""
    if not wf.is_terminal:
        _set_terminal(session, wf, WorkflowStatus.FAILED, actor, reason)


@dataclass
class WorkflowRow:
    workflow: Workflow
    template_name: str
    version_number: int


def workflow_row(session, wf: Workflow) -> WorkflowRow:
    template = _loaded(wf, "template") or session.get(WorkflowTemplate, wf.template_id)
    version = version_of(session, wf)
    return WorkflowRow(wf, template.name, version.number)


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


def filters_from_query(session, args: Mapping[str, str]) -> WorkflowFilters:
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


def filtered_workflows_query(session, f: WorkflowFilters) -> sa.Select:
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
    if f.user_id:
        q = q.where(Workflow.user_id == f.user_id)
    if f.conversation_id:
        q = q.where(Workflow.conversation_id == f.conversation_id)
    if f.started_after:
        q = q.where(Workflow.started_at >= f.started_after)
    if f.started_before:
        q = q.where(Workflow.started_at < f.started_before)
    if f.interaction_after:
        q = q.where(Workflow.last_interaction_at >= f.interaction_after)
    if f.interaction_before:
        q = q.where(Workflow.last_interaction_at < f.interaction_before)
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
    session, f: WorkflowFilters, limit: int = 50, cursor: str | None = None
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
    return rows, next_cursor


def list_events(session, wf: Workflow, after_seq: int = 0, limit: int = 500) -> list[WorkflowEvent]:
    return list(
        session.scalars(
            sa.select(WorkflowEvent)
            .where(WorkflowEvent.workflow_id == wf.id, WorkflowEvent.seq > after_seq)
            .order_by(WorkflowEvent.seq)
            .limit(limit)
        )
    )


def llm_tool(template_name: str, compiled: CompiledSchema) -> dict[str, Any]:
    """The function-calling tool the chat backend gives its LLM to write state_data."""
    return tool_definition(
        compiled,
        f"update_{template_name}"[:64],
        f"Record data collected for the {template_name} workflow. Send only the fields the user gave; "
        "null removes a field.",
    )


def build_context(
    template_name: str,
    version_number: int | None,
    description: str,
    guidelines: str,
    compiled: CompiledSchema,
    state: dict[str, Any],
    *,
    status: str = "active",
    workflow_id: str | None = None,
    waiting_for: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the chat LLM needs next: guidelines, collected data, missing fields in question order
    with their schemas, and a function-calling tool to write the state."""
    missing = compiled.missing(state)
    return {
        "workflow_id": workflow_id,
        "template": template_name,
        "version": version_number,
        "status": status,
        "description": description,
        "guidelines": guidelines,
        "collected": {f.key: state[f.key] for f in compiled.fields if f.key in state},
        "missing_fields": [
            {
                "name": f.key,
                "title": f.title,
                "description": f.description,
                "required": f.required,
                "type": f.type,
                "schema": {k: v for k, v in f.schema.items() if not k.startswith("x-")},
            }
            for f in missing
        ],
        "missing_required": [f.key for f in missing if f.required],
        "next_field": missing[0].key if missing else None,
        "waiting_for": waiting_for,
        "can_complete": status == WorkflowStatus.ACTIVE and not compiled.validate_complete(state),
        "tool": llm_tool(template_name, compiled),
    }


def context_for(session, wf: Workflow) -> dict[str, Any]:
    """The context of a stored workflow (GET /api/workflows/{id}/context)."""
    row = workflow_row(session, wf)
    version = version_of(session, wf)
    context = build_context(
        row.template_name,
        row.version_number,
        version.description,
        version.guidelines,
        compiled_for_version(version),
        wf.state_data or {},
        status=str(wf.status),
        workflow_id=str(wf.id),
        waiting_for=wf.waiting_for,
    )
    context.update(timers.context_extra(wf, version))  # next_timer, suspended
    return context
