"""A workflow's lifecycle: start, merge state, complete, cancel, fail. Every change writes one
event in the same transaction, and runs under the workflow's row lock (wfapp.services.workflow_lookup)."""

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wfapp.errors import (
    Conflict,
    DependencyPending,
    InvalidTransition,
    PermissionDenied,
    PreconditionFailed,
    StateValidationError,
    ValidationFailed,
)
from wfapp.models import (
    OPEN_STATUSES,
    EndUser,
    Permission,
    TemplateVersion,
    Workflow,
    WorkflowStatus,
    WorkflowTemplate,
)
from wfapp.models.types import utcnow
from wfapp.models.workflows import OPEN_WORKFLOW_PREDICATE
from wfapp.schemas.json_patch import apply_json_patch, parse_pointer
from wfapp.schemas.state_schema import CompiledSchema, compiled_for_version, is_full_schema
from wfapp.services import dependencies, timers
from wfapp.services.events import record_event, state_diff
from wfapp.services.outbox import OutboxSettings, enqueue_end_action
from wfapp.services.workflow_lookup import lock_with_definition, lock_workflow
from wfapp.services.workflow_status import end_workflow, touch

TERMINAL_TARGETS = (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELLED, WorkflowStatus.FAILED)
NULL_REFUSED = "may not be null (its schema does not admit null): remove the field instead"


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
    """RFC 7396 JSON Merge Patch: objects merge recursively, a null removes the key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def check_writable(version: TemplateVersion, patch: dict[str, Any]) -> None:
    """Only wfapp writes what wfapp decides: a merge (API, dashboard, tool call) may not write a
    dependency's answer (its store_as key), nor a key the compact state_schema does not declare
    (a full JSON Schema decides by its own additionalProperties)."""
    answers = dependencies.answer_keys(version)
    declared = None if is_full_schema(version.state_schema or {}) else set(version.state_schema or {})
    errors = []
    for key in patch:
        if key in answers:
            owner = next(d["name"] for d in dependencies.definitions(version) if d.get("store_as") == key)
            errors.append(
                {
                    "path": f"/state_data/{key}",
                    "message": f"is the answer of the dependency {owner}: only the dependency writes it",
                    "field": key,
                }
            )
        elif declared is not None and key not in declared and patch[key] is not None:
            errors.append({"path": f"/state_data/{key}", "message": "is not a field of the state_schema", "field": key})
    if errors:
        raise StateValidationError("state_data may not write " + ", ".join(repr(e["field"]) for e in errors), errors)


def start_workflow(
    session: so.Session,
    template_ref: str,
    conversation_id: str,
    user_id: str,
    actor: str,
    state_data: dict[str, Any] | None = None,
    *,
    settings: OutboxSettings,
) -> Workflow:
    template, user_type_id, is_granted_ = _template_and_user(session, template_ref, user_id)
    if template is None:
        raise ValidationFailed(
            f"no workflow template {template_ref!r}",
            [{"path": "/template_id", "message": f"no workflow template {template_ref!r}"}],
        )
    if user_type_id is None:
        raise ValidationFailed(
            f"no end user {user_id!r}",
            [{"path": "/user_id", "message": f"no end user {user_id!r}: register it with POST /api/users"}],
        )
    if not template.is_active:
        raise Conflict(f"workflow template {template.name!r} is not active")
    if not is_granted_:
        raise PermissionDenied(f"user type {user_type_id!r} may not start workflow template {template.name!r}")
    version = template.current_version
    assert version is not None  # an active template has a published version
    compiled = compiled_for_version(version)
    check_writable(version, state_data or {})
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
    for column in Workflow.__table__.columns:  # the rest are NULL: loaded, so the answer reads none back
        if column.key not in wf.__dict__:
            setattr(wf, column.key, None)
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
            _start_insert(session.get_bind().dialect.name),
            {f"v_{c.key}": getattr(wf, c.key) for c in Workflow.__table__.columns},
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
    dependencies.on_start(session, wf, version, actor, settings=settings)
    return wf


def _template_and_user(
    session: so.Session, template_ref: str, user_id: str
) -> tuple[WorkflowTemplate | None, str | None, bool]:
    """The workflow template (by id, else by name: get_workflow_template's rule) with its current
    version, the end user's user type and whether it is granted the template (services.directory's
    is_granted: a permissions row for the pair), in one statement."""
    params: dict[str, Any] = {"user_id": user_id, "name": str(template_ref)}
    with contextlib.suppress(ValueError):
        params["template_id"] = uuid.UUID(str(template_ref))
    row = session.execute(_template_and_user_statement("template_id" in params), params).first()
    if row is None:
        return None, None, False
    return row[0], row[1], bool(row[2])


# built once (their cache keys too): the statements of every start


@functools.cache
def _template_and_user_statement(by_id: bool) -> sa.Select:
    granted = (
        sa.select(Permission.id)
        .where(Permission.user_type_id == EndUser.user_type_id, Permission.workflow_template_id == WorkflowTemplate.id)
        .exists()
    )
    statement = sa.select(WorkflowTemplate, EndUser.user_type_id, granted).outerjoin(
        EndUser, EndUser.id == sa.bindparam("user_id", type_=sa.String)
    )
    by_name = WorkflowTemplate.name == sa.bindparam("name", type_=sa.String)
    if not by_id:
        return statement.where(by_name).limit(1)
    id_matches = WorkflowTemplate.id == sa.bindparam("template_id", type_=sa.Uuid)
    return statement.where(sa.or_(id_matches, by_name)).order_by(sa.case((id_matches, 0), else_=1)).limit(1)


@functools.cache
def _start_insert(dialect: str) -> Any:
    """The workflow's INSERT, which does nothing when the conversation has an open workflow of
    the template already (ON CONFLICT for the database's dialect), RETURNING its id."""
    table: sa.Table = Workflow.__table__  # type: ignore[assignment]
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .values({c.key: sa.bindparam(f"v_{c.key}", type_=c.type) for c in table.columns})
        .on_conflict_do_nothing(
            index_elements=["template_id", "conversation_id"], index_where=sa.text(OPEN_WORKFLOW_PREDICATE)
        )
        .returning(table.c.id)
    )


def open_workflow_in_conversation(
    session: so.Session, template_id: uuid.UUID, conversation_id: str
) -> uuid.UUID | None:
    return session.scalar(
        sa.select(Workflow.id).where(
            Workflow.template_id == template_id,
            Workflow.conversation_id == conversation_id,
            Workflow.status.in_(OPEN_STATUSES),
        )
    )


def _apply_state(
    session: so.Session,
    wf: Workflow,
    compiled: CompiledSchema,
    patch: dict[str, Any],
    actor: str,
    source: str,
    version: TemplateVersion,
) -> dict[str, Any]:
    """Merge `patch` (RFC 7396) into state_data."""
    after = merge_patch(wf.state_data or {}, patch)
    return _store_state(session, wf, compiled, after, patch.keys(), actor, source, version)


def _store_state(
    session: so.Session,
    wf: Workflow,
    compiled: CompiledSchema,
    after: dict[str, Any],
    touched: Iterable[str],
    actor: str,
    source: str,
    version: TemplateVersion,
) -> dict[str, Any]:
    """Store the new state_data `after` once the `touched` keys may be written and are valid;
    record the diff."""
    touched = set(touched)
    # as a merge patch: a touched key is written (a value) or removed (None)
    check_writable(version, {k: k in after or None for k in touched})
    before = wf.state_data or {}
    # a null only a JSON Patch stores (a merge removes the key): said plainly where refused
    refused_nulls = {k for k in touched if k in after and after[k] is None and not compiled.admits_null(k)}
    errors = compiled.validate_merge(after, touched - refused_nulls)
    errors += [
        {"path": "/state_data/" + k.replace("~", "~0").replace("/", "~1"), "message": NULL_REFUSED}
        for k in refused_nulls
    ]
    errors.sort(key=lambda e: e["path"])
    if errors:
        raise StateValidationError(f"{len(errors)} field(s) of state_data are invalid", errors)
    diff = state_diff(before, after)
    if diff:
        wf.state_data = after  # a new object: SQLAlchemy does not see in-place changes
        record_event(session, wf, "state_updated", actor, {"diff": diff, "source": source})
    return diff


def merge_state(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    patch: dict[str, Any],
    actor: str,
    *,
    if_match: str | None = None,
    source: str = "api",
    settings: OutboxSettings,
) -> Workflow:
    """Merge a JSON Merge Patch (RFC 7396) into state_data: a null removes the key."""
    return _change_state(
        session,
        workflow_id,
        lambda before: (merge_patch(before, patch), patch.keys()),
        actor,
        if_match=if_match,
        source=source,
        settings=settings,
    )


def patch_state(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    ops: list[Any],
    actor: str,
    *,
    if_match: str | None = None,
    source: str = "api",
    settings: OutboxSettings,
) -> Workflow:
    """Apply a JSON Patch (RFC 6902) to state_data, under the rules of a merge. Unlike a merge,
    it can store null in a field whose schema admits null. A failed `test` is a 409
    (JsonPatchTestFailed), any other failing operation a 422 naming its path."""
    return _change_state(
        session,
        workflow_id,
        lambda before: _json_patched(before, ops),
        actor,
        if_match=if_match,
        source=source,
        settings=settings,
    )


def _json_patched(before: dict[str, Any], ops: list[Any]) -> tuple[dict[str, Any], set[str]]:
    """The patched state_data and the top-level keys the operations write (what a merge would
    validate: the keys it names)."""
    after = apply_json_patch(before, ops)
    if not isinstance(after, dict):
        raise ValidationFailed(
            "state_data must stay an object", [{"path": "/state_data", "message": "must stay an object"}]
        )
    touched: set[str] = set()
    for op in ops:
        if op["op"] == "test":
            continue
        for pointer in (op["path"], op["from"]) if op["op"] == "move" else (op["path"],):
            parts = parse_pointer(pointer)
            touched |= {parts[0]} if parts else set(before) | set(after)
    return after, touched


def _change_state(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    new_state: Callable[[dict[str, Any]], tuple[dict[str, Any], Iterable[str]]],
    actor: str,
    *,
    if_match: str | None,
    source: str,
    settings: OutboxSettings,
) -> Workflow:
    """Change state_data to `new_state(current)` = (state, keys to validate): refused for a
    suspended or ended workflow or a stale If-Match; fires the dependencies the change concerns."""
    wf, version, _template = lock_with_definition(session, workflow_id)
    timers.refuse_if_suspended(wf)
    check_if_match(wf, if_match)
    if wf.is_terminal:
        raise InvalidTransition(f"the workflow is {wf.status}: its state_data can no longer change")
    _change_locked(session, wf, version, new_state, actor, source=source, settings=settings)
    return wf


def merge_locked(
    session: so.Session,
    wf: Workflow,
    version: TemplateVersion,
    patch: dict[str, Any],
    actor: str,
    *,
    source: str,
    settings: OutboxSettings,
) -> dict[str, Any]:
    """Merge a patch into an open workflow already locked: validation, the event, dependencies
    the change triggers. Returns the diff (StateValidationError when a touched field is invalid)."""
    return _change_locked(
        session,
        wf,
        version,
        lambda before: (merge_patch(before, patch), patch.keys()),
        actor,
        source=source,
        settings=settings,
    )


def _change_locked(
    session: so.Session,
    wf: Workflow,
    version: TemplateVersion,
    new_state: Callable[[dict[str, Any]], tuple[dict[str, Any], Iterable[str]]],
    actor: str,
    *,
    source: str,
    settings: OutboxSettings,
) -> dict[str, Any]:
    """Change the state_data of an open, locked workflow to `new_state(current)` = (state, keys
    to validate): validation, the event, the dependencies the change concerns; returns the diff."""
    compiled = compiled_for_version(version)
    after, touched = new_state(wf.state_data or {})
    diff = _store_state(session, wf, compiled, after, touched, actor, source, version)
    touch(wf)
    stored = set(diff.get("set", {}))
    if stored and (wf.refusals or wf.declined):
        # a stored field is no longer refused, nor declined (the user changed their mind)
        wf.refusals = {k: v for k, v in (wf.refusals or {}).items() if k not in stored} or None
        wf.declined = {k: v for k, v in (wf.declined or {}).items() if k not in stored} or None
    if diff:
        dependencies.on_state_changed(
            session, wf, set(diff.get("set", {})) | set(diff.get("removed", [])), actor, settings=settings
        )
    return diff


def change_status(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    status: str,
    actor: str,
    *,
    reason: str = "",
    patch: dict[str, Any] | None = None,
    if_match: str | None = None,
    source: str = "api",
    settings: OutboxSettings,
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
    wf, waiting_siblings = lock_workflow(session, workflow_id, with_waiting_siblings=target == WorkflowStatus.COMPLETED)
    version = wf.version
    timers.refuse_if_suspended(wf, target)
    check_if_match(wf, if_match)
    if wf.is_terminal:
        raise InvalidTransition(
            f"the workflow is {wf.status}: it cannot become {target}", current_status=str(wf.status)
        )
    compiled = compiled_for_version(version)
    diff = _apply_state(session, wf, compiled, patch, actor, source, version) if patch else {}
    if target == wf.status:
        touch(wf)
        if diff:
            dependencies.on_state_changed(
                session, wf, set(diff.get("set", {})) | set(diff.get("removed", [])), actor, settings=settings
            )
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
        dependencies.before_complete(session, wf, version, actor, settings=settings)
        if wf.status == WorkflowStatus.WAITING or dependencies.pending(wf):
            raise DependencyPending(
                "the workflow waits on " + ", ".join(dependencies.pending(wf)) + "; complete it when they resolve",
                waiting_for=wf.waiting_for,
            )
        # belt and braces: every verdict still holds for the values the workflow completes with
        dependencies.check_verdicts(wf, version)
    _set_terminal(session, wf, target, actor, reason, version, settings, waiting_siblings=waiting_siblings)
    return wf


def _set_terminal(
    session: so.Session,
    wf: Workflow,
    target: WorkflowStatus,
    actor: str,
    reason: str,
    version: TemplateVersion,
    settings: OutboxSettings,
    *,
    waiting_siblings: bool = True,
) -> None:
    end_workflow(session, wf, target, actor, reason)
    if target == WorkflowStatus.COMPLETED:
        enqueue_end_action(session, wf, version, settings, verifications=dependencies.verifications(wf))
        if waiting_siblings:  # no other workflow of the user waits: none can wait on this one
            dependencies.on_workflow_completed(session, wf, actor)
