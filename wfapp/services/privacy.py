"""Personal data: masking sensitive fields for roles that may not see them, auditing reveals, and
erasing an end user's data (DELETE /api/users/{id}).

A field is sensitive when its schema says so (compact `"sensitive": true`, compiled to
`x-sensitive`). Viewers (staff and tokens) see sensitive values as MASK; operators, admins and
the integration see them, and a page that shows them to an operator records the reveal with
`record_reveal` in the staff audit log.

Usage from a page or serializer:

    from wfapp.services.privacy import mask_state, mask_diff, mask_event_data, may_reveal, record_reveal
    compiled = compiled_for_version(version)
    shown = mask_state(wf.state_data, compiled, role)          # a new dict; the input is untouched
    diff = mask_diff(event.data.get("diff"), compiled, role)
    if may_reveal(role) and sensitive_present(wf.state_data, compiled):
        record_reveal(db.session, actor_name(), wf.id, sensitive_present(...), request.remote_addr)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import NotFound, PermissionDenied
from wfapp.models import AuditEntry, EndUser, Job, JobKind, JobStatus, TemplateVersion, Workflow, WorkflowEvent
from wfapp.models.types import utcnow
from wfapp.schemas.state_schema import SENSITIVE, CompiledSchema, is_full_schema
from wfapp.services import dependencies
from wfapp.services.events import record_event
from wfapp.services.staff import record_staff_action

MASK = "••••"
# Keys of event data that hold what an outside service answered.
ANSWER_KEYS = ("result", "excerpt")
# Roles that see sensitive values. Everything else (viewer, anonymous, unknown) gets the mask.
REVEAL_ROLES = frozenset({"admin", "operator", "integration"})
REVEAL_ACTION = "sensitive_revealed"
ERASE_ACTION = "end_user_erased"
CANCELLED_BY_ERASURE = "cancelled: the end user's personal data was erased, so it was not sent"
DEPENDENCY_CANCELLED_BY_ERASURE = "cancelled: the end user's data was erased"


def may_reveal(role: Any) -> bool:
    return str(role or "") in REVEAL_ROLES


def sensitive_keys(compiled: CompiledSchema | None) -> frozenset[str]:
    if compiled is None:
        return frozenset()
    return frozenset(f.key for f in compiled.fields if f.sensitive) | compiled.sensitive_answers


def sensitive_present(state: dict[str, Any] | None, compiled: CompiledSchema | None) -> list[str]:
    """The sensitive fields that hold a value in this state (what a page would reveal)."""
    keys = sensitive_keys(compiled)
    return [k for k in (state or {}) if k in keys and (state or {})[k] not in (None, "", [])]


def _masked(values: dict[str, Any] | None, keys: Iterable[str]) -> dict[str, Any]:
    keys = frozenset(keys)
    return {k: (MASK if k in keys and v is not None else v) for k, v in (values or {}).items()}


def mask_state(state: dict[str, Any] | None, compiled: CompiledSchema | None, role: Any) -> dict[str, Any]:
    """state_data as `role` may see it: sensitive values replaced by MASK for viewers."""
    if may_reveal(role):
        return dict(state or {})
    return _masked(state, sensitive_keys(compiled))


def mask_diff(diff: dict[str, Any] | None, compiled: CompiledSchema | None, role: Any) -> dict[str, Any]:
    """An event's diff ({"set", "removed", "before"}) as `role` may see it."""
    if not diff:
        return {}
    if may_reveal(role):
        return copy.deepcopy(diff)
    keys = sensitive_keys(compiled)
    out = dict(diff)
    for part in ("set", "before"):
        if isinstance(diff.get(part), dict):
            out[part] = _masked(diff[part], keys)
    return out


def mask_event_data(data: dict[str, Any] | None, compiled: CompiledSchema | None, role: Any) -> dict[str, Any]:
    """An event's data with its diff masked for `role` (other keys are kept as they are)."""
    data = dict(data or {})
    if not may_reveal(role):
        if "diff" in data:
            data["diff"] = mask_diff(data["diff"], compiled, role)
        # answers of outside services (a KYC result, an excerpt of the bank's answer) may hold
        # personal data whatever the schema says
        for key in ANSWER_KEYS:
            if data.get(key) is not None:
                data[key] = MASK
        if data.get("sensitive"):
            # a call of a sensitive dependency: its endpoint and words may quote personal data
            for key in ("endpoint", "message"):
                if isinstance(data.get(key), str):
                    data[key] = mask_endpoint(data[key]) if key == "endpoint" else MASK
            if isinstance(data.get("request"), dict):
                request = dict(data["request"])
                if isinstance(request.get("endpoint"), str):
                    request["endpoint"] = mask_endpoint(request["endpoint"])
                request.pop("body", None)
                data["request"] = request
    return data


def mask_endpoint(url: str) -> str:
    """An endpoint with its path and query (where placeholders put values) masked: the scheme
    and host stay, so a viewer still sees which service was called."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return MASK
    return f"{parts.scheme}://{parts.netloc}/{MASK}"


def mask_job_endpoint(payload: dict[str, Any] | None, role: Any) -> str | None:
    """The endpoint of a job as `role` may see it: masked for viewers when the job is a call of
    a sensitive dependency, or was erased (then for everyone)."""
    payload = payload or {}
    endpoint = (payload.get("target") or {}).get("endpoint")
    if not isinstance(endpoint, str):
        return endpoint
    if payload.get("erased") or (payload.get("sensitive") and not may_reveal(role)):
        return mask_endpoint(endpoint)
    return endpoint


def mask_pending(pending: dict[str, Any] | None, role: Any) -> dict[str, Any]:
    """pending_dependencies as `role` may see them: stored results masked for viewers."""
    if may_reveal(role):
        return dict(pending or {})
    out = {}
    for name, entry in (pending or {}).items():
        if isinstance(entry, dict):
            if entry.get("result") is not None:
                entry = {**entry, "result": MASK}
            if entry.get("sensitive") and entry.get("message"):
                entry = {**entry, "message": MASK}
        out[name] = entry
    return out


def mask_waiting_for(waiting_for: Any, pending: dict[str, Any] | None, role: Any) -> Any:
    """waiting_for as `role` may see it: the words of a sensitive dependency (its endpoint)
    masked for viewers."""
    if may_reveal(role) or not isinstance(waiting_for, dict):
        return waiting_for
    entry = (pending or {}).get(str(waiting_for.get("name")))
    if isinstance(entry, dict) and entry.get("sensitive") and waiting_for.get("message"):
        return {**waiting_for, "message": MASK}
    return waiting_for


def mask_request_body(body: Any, compiled: CompiledSchema | None, role: Any) -> Any:
    """The body of an end action (what was or would be sent) as `role` may see it: its
    state_data masked for viewers."""
    if may_reveal(role) or not isinstance(body, dict) or not isinstance(body.get("state_data"), dict):
        return body
    return {**body, "state_data": mask_state(body["state_data"], compiled, role)}


def mask_errors(
    errors: list[dict[str, Any]] | None, compiled: CompiledSchema | None, role: Any
) -> list[dict[str, Any]]:
    """Validation errors as `role` may see them: a message about a sensitive field may quote its
    value (\"'x' does not match ...\"), so viewers get a message without it."""
    if may_reveal(role):
        return list(errors or [])
    keys = sensitive_keys(compiled)
    return [
        ({**e, "message": "is not valid"} if e.get("field") in keys and e.get("message") != "is required" else e)
        for e in (errors or [])
    ]


def mask_steps(steps: list, compiled: CompiledSchema | None, role: Any) -> list:
    """Timeline steps (services.timeline.Step) as `role` may see them: the state after each
    step, the values before it and the event's data (diff, answers) masked for viewers."""
    if may_reveal(role):
        return steps
    keys = sensitive_keys(compiled)
    return [
        dataclasses.replace(
            s,
            state=_masked(s.state, keys),
            before=_masked(s.before, keys),
            data=mask_event_data(s.data, compiled, role),
        )
        for s in steps
    ]


def is_sensitive_anywhere(session: so.Session, key: str) -> bool:
    """Whether `key` is a sensitive field in any version of any workflow template. A role that
    may not see sensitive values may not search by them either (a match would reveal them)."""
    for schema in session.scalars(sa.select(TemplateVersion.state_schema)):
        if not isinstance(schema, dict):
            continue
        props = schema.get("properties") if is_full_schema(schema) else schema
        spec = (props or {}).get(key)
        if isinstance(spec, dict) and (spec.get("sensitive") or spec.get(SENSITIVE)):
            return True
    return False


def refuse_sensitive_search(session: so.Session, field: str | None, role: Any) -> None:
    """A role that sees sensitive values masked may not filter workflows by a sensitive field:
    the matches would reveal the values. Raises PermissionDenied."""
    if field and not may_reveal(role) and is_sensitive_anywhere(session, field):
        raise PermissionDenied(f"{field!r} holds personal data: the role {role or 'none'!r} may not search by it")


def revealed_recently(
    session: so.Session, actor: str, workflow_id: Any, fields: Iterable[str], within: timedelta
) -> bool:
    """Whether a reveal of (at least) these fields of this workflow to this actor was recorded
    less than `within` ago."""
    wanted = set(fields)
    entries = session.scalars(
        sa.select(AuditEntry.changes)
        .where(
            AuditEntry.action == REVEAL_ACTION,
            AuditEntry.target_type == "workflow",
            AuditEntry.target_id == str(workflow_id),
            AuditEntry.actor == (actor or ""),
            AuditEntry.created_at >= utcnow() - within,
        )
        .order_by(AuditEntry.id.desc())
        .limit(20)
    )
    return any(wanted <= set((c or {}).get("fields") or []) for c in entries)


def record_reveal(
    session: so.Session, actor: str, workflow_id: Any, fields: Iterable[str], remote_addr: str = "", where: str = ""
) -> None:
    """Audit that a staff user was shown sensitive values of a workflow (names only, never values)."""
    fields = sorted(set(fields))
    if not fields:
        return
    changes: dict[str, Any] = {"fields": fields}
    if where:
        changes["where"] = where
    record_staff_action(session, actor, REVEAL_ACTION, "workflow", str(workflow_id), changes, remote_addr)


def state_for_staff(
    session: so.Session,
    state: dict[str, Any] | None,
    compiled: CompiledSchema | None,
    role: Any,
    actor: str,
    workflow_id: Any,
    remote_addr: str = "",
    where: str = "",
    repeat_after: timedelta | None = None,
) -> dict[str, Any]:
    """What a dashboard page shows a staff user of a workflow's state_data: masked for viewers;
    for operators and admins the values, with the reveal recorded in the audit log (field names
    only) when any sensitive field holds a value. With `repeat_after`, a reveal of the same
    fields to the same actor recorded less than that long ago is not recorded again (the polls
    and fragments of a page already audited). The caller commits."""
    if not may_reveal(role):
        return mask_state(state, compiled, role)
    revealed = sensitive_present(state, compiled)
    if revealed and not (
        repeat_after is not None and revealed_recently(session, actor, workflow_id, revealed, repeat_after)
    ):
        record_reveal(session, actor, workflow_id, revealed, remote_addr, where)
    return dict(state or {})


# ----------------------------------------------------------------------------------- erasure


def _scrub_diff(diff: Any) -> tuple[Any, bool]:
    """Keep which fields changed, drop what they held."""
    if not isinstance(diff, dict):
        return diff, False
    out, changed = dict(diff), False
    for part in ("set", "before"):
        values = diff.get(part)
        if isinstance(values, dict) and any(v is not None for v in values.values()):
            out[part] = {k: None for k in values}
            changed = True
    return out, changed


def _scrub_endpoints(data: dict[str, Any]) -> bool:
    """A dependency's endpoint may carry values in its path and query: keep the host only."""
    changed = False
    if isinstance(data.get("endpoint"), str) and data["endpoint"] != mask_endpoint(data["endpoint"]):
        data["endpoint"] = mask_endpoint(data["endpoint"])
        changed = True
    request = data.get("request")
    if isinstance(request, dict) and isinstance(request.get("endpoint"), str):
        masked = mask_endpoint(request["endpoint"])
        if masked != request["endpoint"]:
            data["request"] = {**request, "endpoint": masked}
            changed = True
    return changed


def _scrub_event_data(data: dict[str, Any] | None, event_type: str = "") -> tuple[dict[str, Any], bool]:
    data = dict(data or {})
    changed = event_type.startswith("dependency") and _scrub_endpoints(data)
    if "diff" in data:
        data["diff"], changed = _scrub_diff(data["diff"])
    for key in ANSWER_KEYS:
        if data.get(key) is not None:
            data[key] = None
            changed = True
    request = data.get("request")
    if isinstance(request, dict) and "body" in request:
        data["request"] = {k: v for k, v in request.items() if k != "body"}
        changed = True
    if changed:
        data["erased"] = True
    return data, changed


def erase_end_user(session: so.Session, user_id: str, actor: str, remote_addr: str = "") -> dict[str, Any]:
    """Erase an end user's personal data: the state_data of their workflows, the values in their
    events' diffs (the skeleton stays: seq, type, actor, time, which fields changed), stored
    dependency results, the bodies of their finished outbox jobs and their display name.
    Workflows, statuses and events stay, so counts and analytics still add up. A second call
    finds nothing to erase and changes nothing."""
    user = session.get(EndUser, user_id)
    if user is None:
        raise NotFound(f"no end user {user_id!r}")
    workflows = list(session.scalars(sa.select(Workflow).where(Workflow.user_id == user_id)))
    ids = [wf.id for wf in workflows]
    summary: dict[str, Any] = {
        "user_id": user_id,
        "workflows": len(ids),
        "workflows_erased": 0,
        "events_scrubbed": 0,
        "jobs_scrubbed": 0,
        "jobs_cancelled": 0,
        "dependencies_cancelled": 0,
    }
    for wf in workflows:
        touched = False
        if wf.state_data:
            wf.state_data = {}
            touched = True
        if wf.refusals:  # the refused values the LLM context remembers
            wf.refusals = None
            touched = True
        pending = wf.pending_dependencies or {}
        scrubbed = {name: _scrub_pending_entry(e) for name, e in pending.items()}
        if scrubbed != pending:
            wf.pending_dependencies = scrubbed
            touched = True
        if touched:
            wf.row_version += 1
            wf.updated_at = utcnow()
            summary["workflows_erased"] += 1
    if ids:
        for event in session.scalars(sa.select(WorkflowEvent).where(WorkflowEvent.workflow_id.in_(ids))):
            data, changed = _scrub_event_data(event.data, event.type)
            if changed:
                event.data = data
                summary["events_scrubbed"] += 1
        by_id = {wf.id: wf for wf in workflows}
        for job in session.scalars(sa.select(Job).where(Job.workflow_id.in_(ids)).with_for_update()):
            if job.status in (JobStatus.PENDING, JobStatus.RUNNING):
                # it would send the values being erased: cancelled, and its record says why (an
                # attempt under way finds its lease taken and records nothing of the values)
                previous = str(job.status)
                job.status = JobStatus.DEAD
                job.last_error = CANCELLED_BY_ERASURE
                job.finished_at = utcnow()
                job.locked_until = None
                job.locked_by = ""
                summary["jobs_cancelled"] += 1
                record_event(
                    session,
                    by_id[job.workflow_id],
                    "job_cancelled",
                    actor,
                    {"job_id": job.id, "kind": str(job.kind), "previous_status": previous, "reason": "erasure"},
                )
            payload = job.payload or {}
            new = _scrub_job_payload(payload, job.kind == JobKind.DEPENDENCY)
            if new != payload:
                job.payload = new
                summary["jobs_scrubbed"] += 1
        # a dependency whose call was cancelled (or that waits for an answer about the erased
        # values) will never be verified: failed, so that status and waiting_for say so
        for wf in workflows:
            for name, entry in list((wf.pending_dependencies or {}).items()):
                calls = isinstance(entry, dict) and entry.get("type", "api") == "api"
                if calls and dependencies.cancel(session, wf, name, DEPENDENCY_CANCELLED_BY_ERASURE, actor, "erasure"):
                    summary["dependencies_cancelled"] += 1
    if user.display_name:
        user.display_name = ""
        summary["display_name_erased"] = True
    if (
        summary["workflows_erased"]
        or summary["events_scrubbed"]
        or summary["jobs_scrubbed"]
        or summary["jobs_cancelled"]
        or summary["dependencies_cancelled"]
        or summary.get("display_name_erased")
    ):
        record_staff_action(
            session,
            actor,
            ERASE_ACTION,
            "end_user",
            user_id,
            {k: v for k, v in summary.items() if k != "user_id"},
            remote_addr,
        )
        summary["erased"] = True
    else:
        summary["erased"] = False
    summary.pop("display_name_erased", None)
    return summary


def _scrub_pending_entry(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    if out.get("result") is not None:
        out["result"] = None
    message = out.get("message")
    if isinstance(message, str) and message.startswith("calling ") and "://" in message:
        method, _, endpoint = message.removeprefix("calling ").partition(" ")
        out["message"] = f"calling {method} {mask_endpoint(endpoint)}"
    return out


def _scrub_job_payload(payload: dict[str, Any], dependency: bool = False) -> dict[str, Any]:
    """A job's payload without the erased values: the end action's state_data, a call's body
    and (for a dependency call, rendered from state_data) the path and query of its endpoint.
    Marked `erased`: such a job is never sent again (wfapp.services.outbox_actions.retry_job)."""
    out = copy.deepcopy(payload)
    body = out.get("body")
    if isinstance(body, dict) and body.get("state_data"):
        out["body"] = {**body, "state_data": {}}
    target = out.get("target")
    if isinstance(target, dict):
        if "body" in target and target["body"] not in (None, {}):
            target = {k: v for k, v in target.items() if k != "body"}
        if dependency and isinstance(target.get("endpoint"), str):
            target = {**target, "endpoint": mask_endpoint(target["endpoint"])}
        out["target"] = target
    if out != payload:
        out["erased"] = True
    return out


__all__ = [
    "ERASE_ACTION",
    "MASK",
    "REVEAL_ACTION",
    "REVEAL_ROLES",
    "erase_end_user",
    "is_sensitive_anywhere",
    "mask_diff",
    "mask_errors",
    "mask_event_data",
    "mask_pending",
    "mask_request_body",
    "mask_state",
    "mask_steps",
    "may_reveal",
    "record_reveal",
    "refuse_sensitive_search",
    "revealed_recently",
    "sensitive_keys",
    "sensitive_present",
    "state_for_staff",
]
