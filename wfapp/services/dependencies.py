"""Dependencies of a workflow (docs/architecture.md, "Dependencies"): what it waits on before it may go on.

The workflow service calls the hooks (on_start, on_state_changed, before_complete,
on_workflow_completed) inside its transaction, under the workflow's row lock; the outbox calls
on_call_result with the answer of a dependency's API call, the API calls resolve with a callback's
outcome. All of them keep two documents of the workflow exact:

- pending_dependencies: {name: {state: pending|succeeded|failed|skipped, type, attempts, since,
  last_error, message, result?, job_id? (api), template? (workflow)}} for every dependency fired.
  `pending` is the only blocking state: an api call in flight or retrying, a 202 awaiting its
  callback, a refusal with on_failure "wait" (an operator or a callback must resolve it), a
  workflow dependency whose workflow has not completed yet.
- waiting_for: {name, type, since, attempts, message, pending: [names]} naming the oldest blocker,
  or null. The workflow is `waiting` while anything blocks it and `active` again when the last
  blocker resolves.

When a dependency fires:
- `on_start` when the workflow starts;
- `{"fields": [...]}` once all these fields are filled;
- `before_complete` once every required field is filled and valid (the workflow could
  complete), so that the check runs, and blocks, before completion is asked for.

A verdict is bound to the values it checked: each entry records `inputs` (the state fields the
dependency reads: its `when.fields` and every `{{state.x}}` of its request; the whole state_data,
answers of dependencies excepted, when the request sends the default body) and `inputs_digest`
(SHA-256 over the canonical JSON of those fields' values, keyed by field). When a merge changes
them, the verdict no longer counts (`dependency_invalidated`): the dependency is pending again
(`stale`), its stored answer is removed, a call still queued is not sent, an answer or a callback
of the earlier call changes nothing, and it runs again by its `when` (`when.fields`: once they
are filled; `on_start` and `before_complete`: once the workflow could complete). Completion
recomputes every digest and is refused while one differs.
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, DependencyPending, NotFound
from wfapp.models import Job, JobStatus, TemplateVersion, Workflow, WorkflowStatus
from wfapp.models.types import utcnow
from wfapp.outbox.placeholders import PLACEHOLDER, render_header_value, render_url
from wfapp.schemas.definitions import dependency_defaults
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services.events import record_event, state_diff
from wfapp.services.outbox import OutboxSettings, enqueue_dependency_call
from wfapp.services.workflow_lookup import get_workflow, template_of, version_of
from wfapp.services.workflow_status import fail_workflow
from wfapp.services.workflow_templates import find_workflow_template

PENDING, SUCCEEDED, FAILED, SKIPPED = "pending", "succeeded", "failed", "skipped"
SYSTEM = "system"


class DependencyNotFound(NotFound):
    title = "Dependency not found"


def _now_iso() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


def definitions(version: TemplateVersion) -> list[dict[str, Any]]:
    return [dependency_defaults(d) for d in (version.workflow_dependencies or [])]


def definition(version: TemplateVersion, name: str) -> dict[str, Any] | None:
    return next((d for d in definitions(version) if d["name"] == name), None)


def pending(wf: Workflow) -> list[str]:
    """Names of the dependencies that still block the workflow."""
    return [name for name, dep in (wf.pending_dependencies or {}).items() if dep.get("state") == PENDING]


# --- what a verdict saw ------------------------------------------------------------------------


def _state_refs(value: Any) -> set[str]:
    """The top-level state fields that the {{state.x...}} placeholders in a value read."""
    if isinstance(value, dict):
        return set().union(*(_state_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_state_refs(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m.group(1).split(".")[1] for m in PLACEHOLDER.finditer(value) if m.group(1).startswith("state.")}
    return set()


def answer_keys(version: TemplateVersion) -> set[str]:
    """The state keys that hold dependencies' answers (their store_as): written by wfapp only."""
    return {d["store_as"] for d in definitions(version) if d.get("store_as")}


def input_fields(dep: dict[str, Any], state: dict[str, Any], answers: set[str]) -> list[str]:
    """The state fields a dependency reads, sorted."""
    names: set[str] = set()
    when = dep.get("when")
    if isinstance(when, dict):
        names.update(when.get("fields") or [])
    if dep.get("type", "api") == "api":
        api = dep.get("api") or {}
        if "body" not in api and (api.get("method") or "POST") != "GET":
            names.update(k for k in state if k not in answers)  # the default body sends state_data
        names |= _state_refs(api.get("endpoint")) | _state_refs(api.get("headers")) | _state_refs(api.get("body"))
    names.discard(dep.get("store_as") or "")
    return sorted(names)


def inputs_digest(fields: list[str], state: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (keys sorted, no spaces, UTF-8) of {field: value}; a
    missing field counts as null. The receiver of an end action can recompute it."""
    doc = {f: state.get(f) for f in fields}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _seen(dep: dict[str, Any], wf: Workflow, answers: set[str]) -> dict[str, Any]:
    fields = input_fields(dep, wf.state_data or {}, answers)
    return {"inputs": fields, "inputs_digest": inputs_digest(fields, wf.state_data or {})}


def _put(wf: Workflow, name: str, entry: dict[str, Any]) -> None:
    wf.pending_dependencies = {**(wf.pending_dependencies or {}), name: entry}  # a new object


def bump(wf: Workflow) -> None:
    """The workflow changed outside a client's call (a dependency resolved, an end action ran)."""
    wf.updated_at = utcnow()
    wf.row_version = (wf.row_version or 0) + 1


def refresh_waiting(session: so.Session, wf: Workflow, actor: str = SYSTEM) -> None:
    """Make status and waiting_for say exactly what blocks the workflow."""
    if wf.is_terminal:
        return
    deps = wf.pending_dependencies or {}
    blockers = sorted(((e.get("since") or "", name) for name, e in deps.items() if e.get("state") == PENDING))
    if blockers:
        name = blockers[0][1]
        e = deps[name]
        waiting = {
            "name": name,
            "type": e.get("type", "api"),
            "since": e.get("since"),
            "attempts": e.get("attempts", 0),
            "message": e.get("message") or "",
            "pending": [n for _s, n in blockers],
        }
        if wf.waiting_for != waiting:
            wf.waiting_for = waiting
        if wf.status == WorkflowStatus.ACTIVE:
            wf.status = WorkflowStatus.WAITING
            record_event(
                session,
                wf,
                "status_changed",
                actor,
                {"status": {"from": "active", "to": "waiting"}, "waiting_for": name, "reason": f"waiting for {name}"},
            )
    else:
        if wf.waiting_for is not None:
            wf.waiting_for = None
        if wf.status == WorkflowStatus.WAITING:
            wf.status = WorkflowStatus.ACTIVE
            record_event(
                session,
                wf,
                "status_changed",
                actor,
                {"status": {"from": "waiting", "to": "active"}, "reason": "dependencies resolved"},
            )


# --- firing ------------------------------------------------------------------------------------


def _lookup(path: str, data: Any) -> tuple[bool, Any]:
    cur = data
    for part in [p for p in path.removeprefix("$").strip(".").split(".") if p]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def _lookup_in(wf: Workflow):
    ctx = {
        "state": wf.state_data or {},
        "workflow": {"id": str(wf.id), "user_id": wf.user_id, "conversation_id": wf.conversation_id},
    }
    return lambda path: _lookup(path, ctx)


def render(value: Any, wf: Workflow) -> Any:
    """A request body with {{state.field}} (and {{workflow.id|user_id|conversation_id}}) filled
    from the workflow. A string that is only a placeholder takes the value with its JSON type."""
    if isinstance(value, dict):
        return {k: render(v, wf) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, wf) for v in value]
    if isinstance(value, str):
        lookup = _lookup_in(wf)
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return lookup(whole.group(1))[1]

        def repl(m):
            found, v = lookup(m.group(1))
            return "" if not found or v is None else str(v)

        return PLACEHOLDER.sub(repl, value)
    return value


def render_endpoint(endpoint: str, wf: Workflow) -> str:
    """The endpoint with placeholders filled as data (wfapp.outbox.placeholders.render_url)."""
    return render_url(endpoint, _lookup_in(wf))


def render_headers(headers: dict[str, str] | None, wf: Workflow) -> dict[str, str]:
    """Header values with placeholders filled as text (secrets stay references until sent)."""
    lookup = _lookup_in(wf)
    return {k: render_header_value(str(v), lookup) for k, v in (headers or {}).items()}


def _completed_workflow_of(session: so.Session, wf: Workflow, template_ref: str):
    template = find_workflow_template(session, template_ref)
    if template is None:
        return None
    return session.scalar(
        sa.select(Workflow.id)
        .where(
            Workflow.user_id == wf.user_id,
            Workflow.template_id == template.id,
            Workflow.status == WorkflowStatus.COMPLETED,
        )
        .limit(1)
    )


def _fire(
    session: so.Session, wf: Workflow, dep: dict[str, Any], actor: str, settings: OutboxSettings, attempts: int = 0
) -> None:
    name, now = dep["name"], _now_iso()
    seen = _seen(dep, wf, answer_keys(version_of(session, wf)))
    if dep["type"] == "workflow":
        done = _completed_workflow_of(session, wf, dep["template"])
        entry = {
            "type": "workflow",
            "template": dep["template"],
            "attempts": attempts,
            "since": now,
            "last_error": None,
            **seen,
        }
        if done:
            _put(
                wf,
                name,
                {
                    **entry,
                    "state": SUCCEEDED,
                    "result": {"workflow_id": str(done)},
                    "message": f"the user's {dep['template']} workflow is completed",
                    "resolved_at": now,
                    "source": "workflow",
                },
            )
            record_event(
                session,
                wf,
                "dependency_succeeded",
                actor,
                {"name": name, "type": "workflow", "workflow_id": str(done), **seen},
            )
        else:
            message = f"waiting until this user's {dep['template']} workflow is completed"
            _put(wf, name, {**entry, "state": PENDING, "message": message})
            record_event(
                session,
                wf,
                "dependency_started",
                actor,
                {"name": name, "type": "workflow", "template": dep["template"], "message": message, **seen},
            )
        return
    api = dep["api"]
    request = {
        "endpoint": render_endpoint(api["endpoint"], wf),
        "method": api.get("method", "POST"),
        "headers": render_headers(api.get("headers"), wf),
        "timeout_s": api.get("timeout_s"),
    }
    if "body" in api:
        request["body"] = render(api["body"], wf)
    elif request["method"] != "GET":
        request["body"] = {
            "workflow_id": str(wf.id),
            "dependency": name,
            "user_id": wf.user_id,
            "conversation_id": wf.conversation_id,
            "state_data": wf.state_data or {},
        }
    # the callback address (X-Wfapp-Callback) is made per attempt when the call is sent
    sensitive = _is_sensitive(session, wf, dep)
    job = enqueue_dependency_call(session, wf, name, request, int(dep["on_failure"].get("max_attempts") or 5))
    marker = {"sensitive": True} if sensitive else {}
    if sensitive:  # masked for viewers wherever the call shows (wfapp.services.privacy)
        job.payload = {**job.payload, **marker}
    _put(
        wf,
        name,
        {
            "state": PENDING,
            "type": "api",
            "attempts": attempts,
            "since": now,
            "last_error": None,
            "job_id": job.id,
            "message": f"calling {request['method']} {request['endpoint']}",
            **marker,
            **seen,
        },
    )
    record_event(
        session,
        wf,
        "dependency_started",
        actor,
        {
            "name": name,
            "type": "api",
            "method": request["method"],
            "endpoint": request["endpoint"],
            "job_id": job.id,
            **marker,
            **seen,
        },
    )


def _is_sensitive(session, wf: Workflow, dep: dict[str, Any]) -> bool:
    """Whether the dependency's call and answer are personal data (declared, or its request
    reads a sensitive field)."""
    from wfapp.schemas.definitions import dependency_is_sensitive
    from wfapp.schemas.state_schema import compiled_for_version

    version = session.get(TemplateVersion, wf.template_version_id)
    fields = frozenset(f.key for f in compiled_for_version(version).fields if f.sensitive) if version else frozenset()
    return dependency_is_sensitive(dep, fields)


def _is_filled(state: dict[str, Any], field: str) -> bool:
    return state.get(field) not in (None, "", [])


def _fire_ready(
    session: so.Session,
    wf: Workflow,
    version: TemplateVersion,
    actor: str,
    settings: OutboxSettings,
    *,
    completing: bool = False,
) -> None:
    fired = wf.pending_dependencies or {}
    state = wf.state_data or {}
    completable = None
    for dep in definitions(version):
        entry = fired.get(dep["name"])
        if entry is not None and not entry.get("stale"):
            continue
        when = dep["when"]
        if isinstance(when, dict):
            ready = all(_is_filled(state, f) for f in when.get("fields") or [])
        elif when == "before_complete" or entry is not None:  # a stale on_start one too
            if completable is None:
                completable = completing or not compiled_for_version(version).validate_complete(state)
            ready = completable
        else:
            ready = False
        if ready:
            _fire(session, wf, dep, actor, settings)


def on_start(
    session: so.Session, wf: Workflow, version: TemplateVersion, actor: str, *, settings: OutboxSettings
) -> None:
    """Fire the version's on_start dependencies (and any whose fields the initial data fills)."""
    for dep in definitions(version):
        if dep["when"] == "on_start":
            _fire(session, wf, dep, actor, settings)
    _fire_ready(session, wf, version, actor, settings)
    refresh_waiting(session, wf, actor)


def on_state_changed(
    session: so.Session, wf: Workflow, changed: set[str], actor: str, *, settings: OutboxSettings
) -> None:
    """Fire dependencies whose `when.fields` are now all filled (and before_complete ones once
    the workflow could complete). A verdict whose inputs changed no longer counts: the
    dependency is pending again and runs again by its `when`."""
    version = version_of(session, wf)
    invalidate_changed(session, wf, version, actor, changed)
    _fire_ready(session, wf, version, actor, settings)
    refresh_waiting(session, wf, actor)


def before_complete(
    session: so.Session, wf: Workflow, version: TemplateVersion, actor: str, *, settings: OutboxSettings
) -> None:
    """Fire before_complete dependencies not yet fired. Usually none is left: they fire as soon
    as the workflow could complete. One left here (state_data completed in the very call that
    asks for completion) blocks the completion with 409, and the refused request writes nothing,
    so the answer says how to go on."""
    before = {n for n, e in (wf.pending_dependencies or {}).items() if not e.get("stale")}
    _fire_ready(session, wf, version, actor, settings, completing=True)
    fresh = [n for n in pending(wf) if n not in before]
    if fresh:
        raise DependencyPending(
            f"{', '.join(fresh)} must run before the workflow completes: send state_data alone (that starts the "
            "check), then complete once the workflow is active again",
            pending=fresh,
        )
    refresh_waiting(session, wf, actor)


def _cancel_queued_call(session: so.Session, entry: dict[str, Any], why: str) -> None:
    if entry.get("job_id"):
        job = session.get(Job, entry["job_id"])
        if job is not None and job.status == JobStatus.PENDING:
            job.status = JobStatus.SUCCEEDED
            job.finished_at = utcnow()
            job.last_error = f"not sent: {why}"


def invalidate_changed(
    session: so.Session, wf: Workflow, version: TemplateVersion, actor: str, changed: set[str] | None = None
) -> list[str]:
    """Make every verdict (or call in flight) whose inputs changed pending again (`stale`), so
    that it runs again by its `when`; returns their names."""
    answers = answer_keys(version)
    out = []
    for dep in definitions(version):
        name = dep["name"]
        entry = (wf.pending_dependencies or {}).get(name)
        if entry is None or entry.get("stale") or entry.get("state") not in (PENDING, SUCCEEDED, FAILED):
            continue
        seen = _seen(dep, wf, answers)
        if entry.get("inputs_digest") == seen["inputs_digest"]:
            continue
        fields = [f for f in seen["inputs"] if changed is None or f in changed] or seen["inputs"]
        _cancel_queued_call(session, entry, f"the inputs of {name} changed")
        data: dict[str, Any] = {
            "name": name,
            "changed": fields,
            "previous": {"state": entry.get("state"), "inputs_digest": entry.get("inputs_digest")},
            **seen,
        }
        store_as = dep.get("store_as")
        if store_as and store_as in (wf.state_data or {}):
            before = wf.state_data or {}
            after = {k: v for k, v in before.items() if k != store_as}
            data["diff"] = state_diff(before, after)
            wf.state_data = after
        _put(
            wf,
            name,
            {
                "state": PENDING,
                "type": entry.get("type", dep["type"]),
                **({"template": dep["template"]} if dep["type"] == "workflow" else {}),
                "stale": True,
                "attempts": 0,
                "since": _now_iso(),
                "last_error": None,
                "message": f"{', '.join(fields)} changed since {name} checked them: it runs again",
                **seen,
            },
        )
        record_event(session, wf, "dependency_invalidated", actor, data)
        out.append(name)
    return out


def check_verdicts(wf: Workflow, version: TemplateVersion) -> None:
    """Completion's last check: every verdict still holds for the current values (its digest,
    recomputed now, is the one recorded with it)."""
    answers = answer_keys(version)
    changed = []
    for dep in definitions(version):
        entry = (wf.pending_dependencies or {}).get(dep["name"])
        if entry is None or entry.get("state") not in (SUCCEEDED, FAILED):
            continue
        if entry.get("inputs_digest") != _seen(dep, wf, answers)["inputs_digest"]:
            changed.append(dep["name"])
    if changed:
        raise DependencyPending(
            f"the values {', '.join(changed)} checked have changed since: send state_data alone (that runs "
            "the check again on the current values), then complete once the workflow is active again",
            pending=changed,
        )


def verifications(wf: Workflow) -> list[dict[str, Any]]:
    """The verdicts the workflow completes with, for the end action's body."""
    out = []
    for name, entry in sorted((wf.pending_dependencies or {}).items()):
        if entry.get("state") not in (SUCCEEDED, FAILED):
            continue
        out.append(
            {
                "dependency": name,
                "outcome": entry.get("state"),
                "inputs": entry.get("inputs") or [],
                "inputs_digest": entry.get("inputs_digest"),
                "at": entry.get("resolved_at"),
                "source": entry.get("source"),
            }
        )
    return out


def on_workflow_completed(session: so.Session, wf: Workflow, actor: str) -> None:
    """Resume workflows of the same end user that wait on this workflow's template."""
    template = template_of(session, wf)
    refs = {template.name, str(template.id)}
    # Only waiting workflows can wait on another one; a workflow being completed is active, so
    # two workflows completing side by side never lock each other (no deadlock).
    candidates = session.scalars(
        sa.select(Workflow.id)
        .where(
            Workflow.user_id == wf.user_id,
            Workflow.id != wf.id,
            Workflow.status == WorkflowStatus.WAITING,
        )
        .order_by(Workflow.id)
    )
    for wid in list(candidates):
        other = get_workflow(session, wid, lock=True)
        if other.is_terminal:
            continue
        changed = False
        for name, entry in (other.pending_dependencies or {}).items():
            if (
                entry.get("type") == "workflow"
                and entry.get("state") == PENDING
                and (entry.get("template") or name) in refs
            ):
                _put(
                    other,
                    name,
                    {
                        **entry,
                        "state": SUCCEEDED,
                        "result": {"workflow_id": str(wf.id)},
                        "message": f"the user's {template.name} workflow {wf.id} completed",
                        "resolved_at": _now_iso(),
                        "source": "workflow",
                    },
                )
                record_event(
                    session,
                    other,
                    "dependency_succeeded",
                    actor,
                    {"name": name, "type": "workflow", "workflow_id": str(wf.id)},
                )
                changed = True
        if changed:
            refresh_waiting(session, other, actor)
            bump(other)


# --- outcomes ----------------------------------------------------------------------------------


def _succeed(
    session: so.Session,
    wf: Workflow,
    dep: dict[str, Any] | None,
    name: str,
    entry: dict[str, Any],
    result: Any,
    actor: str,
    source: str,
    extra: dict[str, Any] | None = None,
) -> None:
    data: dict[str, Any] = {
        "name": name,
        "source": source,
        "inputs": entry.get("inputs") or [],
        "inputs_digest": entry.get("inputs_digest"),
        **(extra or {}),
    }
    new_entry = {
        **entry,
        "state": SUCCEEDED,
        "last_error": None,
        "message": f"{name} succeeded" + (f" ({source}: {extra['reason']})" if extra and extra.get("reason") else ""),
        "resolved_at": _now_iso(),
        "source": source,
        **(extra or {}),
    }
    if result is not None:
        new_entry["result"] = result
    store_as = (dep or {}).get("store_as")
    if store_as and result is not None and source != "operator":
        before = wf.state_data or {}
        after = {**before, store_as: result}
        diff = state_diff(before, after)
        if diff:
            wf.state_data = after
            data["diff"] = diff
    _put(wf, name, new_entry)
    record_event(session, wf, "dependency_succeeded", actor, data)
    refresh_waiting(session, wf, actor)


def _fail(
    session: so.Session,
    wf: Workflow,
    dep: dict[str, Any] | None,
    name: str,
    entry: dict[str, Any],
    error: str,
    actor: str,
    source: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Apply on_failure once retrying is over: fail the workflow, wait for an operator or a
    callback, or record the failure and go on."""
    on_failure = (dep or {}).get("on_failure") or {"action": "fail"}
    action = on_failure.get("action", "fail")
    message = on_failure.get("message") or ""
    data = {
        "name": name,
        "error": error,
        "action": action,
        "source": source,
        "inputs": entry.get("inputs") or [],
        "inputs_digest": entry.get("inputs_digest"),
        **(extra or {}),
    }
    entry = {**entry, "source": source, **(extra or {})}
    if action == "wait":
        _put(
            wf,
            name,
            {
                **entry,
                "state": PENDING,
                "last_error": error,
                "needs_operator": True,
                "message": message or f"{name} failed ({error}): waiting for an operator or a callback",
            },
        )
        record_event(session, wf, "dependency_failed", actor, data)
        refresh_waiting(session, wf, actor)
    elif action == "continue":
        _put(
            wf,
            name,
            {
                **entry,
                "state": FAILED,
                "last_error": error,
                "message": message or f"{name} failed ({error}); the workflow goes on",
                "resolved_at": _now_iso(),
            },
        )
        record_event(session, wf, "dependency_failed", actor, data)
        refresh_waiting(session, wf, actor)
    else:  # fail, or retry with no attempts left
        _put(
            wf,
            name,
            {**entry, "state": FAILED, "last_error": error, "message": message or error, "resolved_at": _now_iso()},
        )
        record_event(session, wf, "dependency_failed", actor, data)
        fail_workflow(session, wf, actor, message or f"dependency {name} failed: {error}")


def _check_success(dep: dict[str, Any] | None, answer: Any) -> tuple[bool, str]:
    path = (dep or {}).get("success_path")
    if not path:
        return True, ""
    found, value = _lookup(path, answer)
    if not found:
        return False, f"the answer has no {path}"
    values = (dep or {}).get("success_values")
    if values is None:
        return (bool(value), "" if value else f"{path} is {value!r}")
    return (value in values, "" if value in values else f"{path} is {value!r}, not one of {values!r}")


def on_call_result(session: so.Session, wf: Workflow, job, result, actor: str = "outbox") -> tuple[str, str]:
    """Apply the answer of a dependency's API call (the workflow is locked). Returns what becomes
    of the job, "succeeded", "retry" or "dead", and the error to record."""
    name = job.payload["dependency"]
    entry = (wf.pending_dependencies or {}).get(name)
    if (
        wf.is_terminal
        or entry is None
        or entry.get("job_id") != job.id
        or entry.get("state") != PENDING
        or entry.get("needs_operator")
    ):
        # resolved meanwhile (callback, operator, cancel): the answer changes nothing
        return ("succeeded" if result.ok else "dead"), result.error or ""
    version = version_of(session, wf)
    dep = definition(version, name)
    action = ((dep or {}).get("on_failure") or {}).get("action", "fail")
    entry = {**entry, "attempts": job.attempts, "last_attempt_at": _now_iso()}
    can_retry = job.attempts < job.max_attempts
    if result.ok and result.status_code == 202:
        _put(
            wf,
            name,
            {
                **entry,
                "last_error": None,
                "message": "accepted (202): waiting for the callback to the address sent in X-Wfapp-Callback",
            },
        )
        record_event(session, wf, "dependency_accepted", actor, {"name": name})
        refresh_waiting(session, wf, actor)
        return "succeeded", ""
    if result.ok:
        passed, why = _check_success(dep, result.json)
        if passed:
            answer = result.json if result.json is not None else (result.excerpt or None)
            _succeed(session, wf, dep, name, entry, answer, actor, "call")
            return "succeeded", ""
        error, job_outcome, retryable = f"refused: {why}", "succeeded", False
    elif result.status_code is not None:  # a non-2xx answer
        error, job_outcome, retryable = result.error, "dead", result.retryable
    else:  # no answer: timeout, connection error, or refused before connecting
        error, job_outcome, retryable = result.error, "dead", result.retryable
    answered_no = result.status_code is not None and not retryable
    if can_retry and (retryable or (action == "retry" and answered_no)):
        _put(
            wf,
            name,
            {
                **entry,
                "last_error": error,
                "message": f"attempt {job.attempts} of {job.max_attempts} failed ({error}); retrying",
            },
        )
        refresh_waiting(session, wf, actor)
        return "retry", error
    if retryable:
        error = f"{error} (after {job.attempts} attempts)"
    _fail(session, wf, dep, name, entry, error, actor, "call")
    return job_outcome, error


def resolve(
    session: so.Session,
    wf: Workflow,
    name: str,
    outcome: str,
    result: Any = None,
    message: str = "",
    actor: str = SYSTEM,
    *,
    settings: OutboxSettings,
    source: str = "callback",
    reason: str = "",
    job_id: int | None = None,
) -> None:
    """A callback's or an operator's outcome for a pending dependency (the workflow is locked).
    A callback (`job_id`: the call it answers) counts only for the dependency's current call,
    on the values that call was made with; an operator's decision carries a reason and never
    writes the dependency's answer (store_as)."""

    version = version_of(session, wf)
    dep = definition(version, name)
    entry = (wf.pending_dependencies or {}).get(name)
    if entry is None:
        if dep is None:
            raise DependencyNotFound(f"the workflow has no dependency {name!r}")
        raise Conflict(f"the dependency {name!r} has not started yet")
    if wf.is_terminal:
        raise Conflict(f"the workflow is {wf.status}: its dependencies can no longer change", status=str(wf.status))
    if entry.get("state") != PENDING:
        raise Conflict(f"the dependency {name!r} is already {entry.get('state')}", state=entry.get("state"))
    if job_id is not None:
        current = (
            dep is not None and entry.get("inputs_digest") == _seen(dep, wf, answer_keys(version))["inputs_digest"]
        )
        if entry.get("job_id") != job_id or entry.get("stale") or not current:
            raise Conflict(
                f"this call's answer no longer counts: {name} was called again since (its inputs changed or the "
                "call was retried); only the current call's callback resolves it",
                state=entry.get("state"),
            )
    _cancel_queued_call(session, entry, f"the dependency was resolved ({outcome}) by {actor}")
    entry = {**entry, "needs_operator": False, "stale": False}
    extra = {"reason": reason, "resolved_by": actor} if source == "operator" else None
    if outcome == "succeeded":
        _succeed(session, wf, dep, name, entry, result, actor, source, extra)
        return
    error = message or reason or "reported failed"
    action = ((dep or {}).get("on_failure") or {}).get("action", "fail")
    attempts = int(entry.get("attempts") or 0) + 1
    max_attempts = int(((dep or {}).get("on_failure") or {}).get("max_attempts") or 5)
    if action == "retry" and dep is not None and dep["type"] == "api" and attempts < max_attempts:
        record_event(
            session,
            wf,
            "dependency_failed",
            actor,
            {"name": name, "error": error, "action": "retry", "source": source, **(extra or {})},
        )
        _fire(session, wf, dep, actor, settings, attempts=attempts)
        refresh_waiting(session, wf, actor)
        return
    _fail(session, wf, dep, name, {**entry, "attempts": attempts}, error, actor, source, extra)


def cancel(session: so.Session, wf: Workflow, name: str, reason: str, actor: str, source: str) -> bool:
    """A pending dependency of the (locked) open workflow is failed with `reason`, whatever its
    on_failure (it is not called again, the workflow is not failed); its queued call is not sent
    and a callback of it no longer counts. Returns whether it was pending."""
    entry = (wf.pending_dependencies or {}).get(name)
    if wf.is_terminal or not isinstance(entry, dict) or entry.get("state") != PENDING:
        return False
    _cancel_queued_call(session, entry, reason)
    _put(
        wf,
        name,
        {
            **entry,
            "state": FAILED,
            "last_error": reason,
            "message": reason,
            "needs_operator": False,
            "stale": False,
            "source": source,
            "resolved_at": _now_iso(),
        },
    )
    data = {
        "name": name,
        "error": reason,
        "action": "cancelled",
        "source": source,
        "inputs": entry.get("inputs") or [],
        "inputs_digest": entry.get("inputs_digest"),
    }
    record_event(session, wf, "dependency_failed", actor, data)
    refresh_waiting(session, wf, actor)
    bump(wf)
    return True


def rearm(session: so.Session, wf: Workflow, job, actor: str) -> None:
    """A dead dependency call is retried: its dependency is pending again."""
    name = job.payload["dependency"]
    if wf.is_terminal:
        raise Conflict(f"the workflow is {wf.status}: its dependency {name!r} can no longer be retried")
    entry = (wf.pending_dependencies or {}).get(name) or {"type": "api", "attempts": 0, "since": _now_iso()}
    if entry.get("job_id") not in (None, job.id) or entry.get("stale"):
        raise Conflict(
            f"job {job.id} is no longer {name}'s call: it was called again since (its inputs changed), "
            "and that call is the one that counts"
        )
    _put(
        wf,
        name,
        {
            **entry,
            "state": PENDING,
            "job_id": job.id,
            "needs_operator": False,
            "message": f"retrying the call for {name}",
        },
    )
    refresh_waiting(session, wf, actor)


__all__ = [
    "answer_keys",
    "before_complete",
    "cancel",
    "check_verdicts",
    "input_fields",
    "inputs_digest",
    "invalidate_changed",
    "on_call_result",
    "on_start",
    "on_state_changed",
    "on_workflow_completed",
    "pending",
    "rearm",
    "refresh_waiting",
    "resolve",
    "verifications",
]
