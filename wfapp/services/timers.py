"""Timers of a workflow (rows of `timers`):

- `remind` (the version's `timers.remind_after`): an open workflow without interaction that long
  gets one `reminder` event (public `workflow.reminder`) per idle period;
- `expire` (`timers.expire_after`): an open workflow without interaction that long is cancelled
  with reason "expired" (public `workflow.expired`) and its queued dependency calls are dropped;
- `dependency_timeout` (a dependency's `timeout`): a dependency still pending that long is
  reported failed with "timed out", so its on_failure applies.

Interactions do not touch the rows: a row's due_at is a lower bound, and the dispatcher that
claims it (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite) re-reads the locked
workflow and either fires it or moves it to when it is really due. Nothing fires while the
workflow is suspended; resuming makes its timers due for a re-check.
"""

import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict
from wfapp.models import Job, JobKind, JobStatus, TemplateVersion, Timer, Workflow, WorkflowEvent, WorkflowStatus
from wfapp.models.types import UTCDateTime, utcnow
from wfapp.services.outbox import OutboxSettings

REMIND, EXPIRE, DEPENDENCY_TIMEOUT = "remind", "expire", "dependency_timeout"
ACTOR = "timer"
MAX_S = 366 * 86400
SUSPENDED_RECHECK = timedelta(days=1)
ISO_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
TIMERS_SCHEMA = {
    "type": ["object", "null"],
    "properties": {"remind_after": {"type": ["string", "number"]}, "expire_after": {"type": ["string", "number"]}},
    "additionalProperties": False,
}
DURATION_SCHEMA = {"type": ["string", "number"], "description": "ISO 8601 duration (PT30M, P2D) or seconds"}


def parse_duration(value: Any) -> float | None:
    """Seconds of an ISO 8601 duration (PnDTnHnMnS) or a number of seconds; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = ISO_DURATION.match(value.strip().upper())
        if not m or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
            return None
        d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        return None
    return seconds if 0 < seconds <= MAX_S else None


def _duration_error(path: str) -> dict[str, str]:
    return {"path": path, "message": "must be an ISO 8601 duration (PT30M, P2D) or a number of seconds, up to a year"}


def normalise_definition(d: dict[str, Any], errors: list[dict[str, str]]) -> None:
    """Check the definition's `timers` and each dependency's `timeout`; store them as seconds."""
    t = d.get("timers")
    if t in (None, {}):
        d["timers"] = None
    elif not isinstance(t, dict):
        errors.append({"path": "/timers", "message": "must be an object with remind_after and/or expire_after"})
    else:
        out = {}
        for key, value in t.items():
            if key not in ("remind_after", "expire_after"):
                errors.append({"path": f"/timers/{key}", "message": "unknown timer (remind_after, expire_after)"})
                continue
            seconds = parse_duration(value)
            if seconds is None:
                errors.append(_duration_error(f"/timers/{key}"))
            else:
                out[key] = seconds
        d["timers"] = out or None
    for i, dep in enumerate(d.get("workflow_dependencies") or []):
        if isinstance(dep, dict) and "timeout" in dep:
            seconds = parse_duration(dep["timeout"])
            if seconds is None:
                errors.append(_duration_error(f"/workflow_dependencies/{i}/timeout"))
            else:
                dep["timeout"] = seconds


def _setting(version: TemplateVersion | None, key: str) -> float | None:
    value = ((version.timers if version is not None else None) or {}).get(key)
    return float(value) if value else None


def _dep_timeout(version: TemplateVersion | None, name: str) -> float | None:
    for dep in (version.workflow_dependencies if version is not None else None) or []:
        if dep.get("name") == name and dep.get("timeout"):
            return float(dep["timeout"])
    return None


def _version(session, wf: Workflow) -> TemplateVersion | None:
    return sa.inspect(wf).dict.get("version") or session.get(TemplateVersion, wf.template_version_id)


def on_workflow_event(session, wf: Workflow, ev: WorkflowEvent) -> None:
    """At flush time (services.public_events): a start schedules the idle timers, a dependency
    that starts schedules its timeout."""
    if ev.type == "started":
        version = _version(session, wf)
        for kind, key in ((REMIND, "remind_after"), (EXPIRE, "expire_after")):
            seconds = _setting(version, key)
            if seconds:
                session.add(
                    Timer(workflow_id=wf.id, kind=kind, name="", due_at=ev.created_at + timedelta(seconds=seconds))
                )
    elif ev.type == "dependency_started":
        name = (ev.data or {}).get("name", "")
        seconds = _dep_timeout(_version(session, wf), name)
        if seconds:
            session.add(
                Timer(
                    workflow_id=wf.id,
                    kind=DEPENDENCY_TIMEOUT,
                    name=name,
                    due_at=ev.created_at + timedelta(seconds=seconds),
                )
            )


def _since(entry: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry.get("since")).replace("Z", "+00:00"))
    except ValueError:
        return None


def next_timer(wf: Workflow, version: TemplateVersion | None) -> dict[str, Any] | None:
    """When the workflow's next timer fires ({kind, due_at[, name]}), from its definition."""
    if wf.is_terminal or wf.suspended_at is not None:
        return None
    now = utcnow()
    options: list[tuple[datetime, dict[str, Any]]] = []
    for kind, key in ((REMIND, "remind_after"), (EXPIRE, "expire_after")):
        seconds = _setting(version, key)
        if seconds:
            due = wf.last_interaction_at + timedelta(seconds=seconds)
            if kind == EXPIRE or due > now:  # a reminder in the past has fired for this idle period
                options.append((due, {"kind": kind}))
    for name, entry in (wf.pending_dependencies or {}).items():
        seconds = _dep_timeout(version, name)
        since = _since(entry)
        if seconds and since and entry.get("state") == "pending" and not entry.get("needs_operator"):
            options.append((since + timedelta(seconds=seconds), {"kind": DEPENDENCY_TIMEOUT, "name": name}))
    if not options:
        return None
    due, info = min(options, key=lambda o: o[0])
    return {**info, "due_at": due.isoformat().replace("+00:00", "Z")}


# --- firing -----------------------------------------------------------------------------------


# whether any timer is due (the dispatcher looks before it takes SQLite's write lock)
ANY_DUE: sa.Select = (
    sa.select(sa.literal_column("1"))
    .select_from(Timer)
    .where(Timer.due_at <= sa.bindparam("now", type_=UTCDateTime))
    .limit(1)
)


def claim_due(session) -> Timer | None:
    """The next due timer, locked (the caller's transaction is a write transaction)."""
    return session.scalar(
        sa.select(Timer)
        .where(Timer.due_at <= utcnow())
        .order_by(Timer.due_at, Timer.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def fire(session: so.Session, timer: Timer, settings: OutboxSettings) -> str:
    """Fire the claimed timer, or move it to when it is due; returns what happened. The caller
    commits."""
    from wfapp.services import dependencies
    from wfapp.services.events import record_event
    from wfapp.services.workflow_status import end_workflow

    wf = session.scalar(
        sa.select(Workflow)
        .where(Workflow.id == timer.workflow_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if wf is None or wf.is_terminal:
        session.delete(timer)
        return "gone"
    if wf.suspended_at is not None:
        timer.due_at = now + SUSPENDED_RECHECK  # resuming makes it due again
        return "suspended"
    version = _version(session, wf)
    if timer.kind in (REMIND, EXPIRE):
        seconds = _setting(version, "remind_after" if timer.kind == REMIND else "expire_after")
        if not seconds:
            session.delete(timer)
            return "gone"
        due = wf.last_interaction_at + timedelta(seconds=seconds)
        if timer.kind == REMIND and timer.fired_at is not None and timer.fired_at >= wf.last_interaction_at:
            timer.due_at = max(due, now) + timedelta(seconds=seconds)  # reminded in this idle period
            return "moved"
        if due > now:
            timer.due_at = due
            return "moved"
        if timer.kind == REMIND:
            idle_since = wf.last_interaction_at.isoformat().replace("+00:00", "Z")
            record_event(session, wf, "reminder", ACTOR, {"idle_since": idle_since, "remind_after_s": seconds})
            timer.fired_at = now
            timer.due_at = now + timedelta(seconds=seconds)
            return "fired"
        end_workflow(session, wf, WorkflowStatus.CANCELLED, ACTOR, "expired")
        session.execute(
            sa.update(Job)
            .where(Job.workflow_id == wf.id, Job.kind == JobKind.DEPENDENCY, Job.status == JobStatus.PENDING)
            .values(status=JobStatus.SUCCEEDED, finished_at=now, last_error="cancelled: the workflow expired")
        )
        session.delete(timer)
        return "fired"
    # a dependency's timeout
    entry = (wf.pending_dependencies or {}).get(timer.name) or {}
    seconds = _dep_timeout(version, timer.name)
    since = _since(entry)
    if not seconds or entry.get("state") != "pending" or entry.get("needs_operator") or since is None:
        session.delete(timer)
        return "gone"
    if since + timedelta(seconds=seconds) > now:
        timer.due_at = since + timedelta(seconds=seconds)
        return "moved"
    session.delete(timer)
    dependencies.resolve(session, wf, timer.name, "failed", None, "timed out", ACTOR, settings=settings)
    dependencies.bump(wf)
    return "fired"


def rearm(session, wf: Workflow) -> None:
    """After a resumption: the workflow's timers are due for a re-check, its held dependency
    calls due now. Rows a dispatcher holds right now are skipped (it re-reads the workflow)."""
    now = utcnow()
    held = sa.select(Timer.id).where(Timer.workflow_id == wf.id).with_for_update(skip_locked=True)
    if session.get_bind().dialect.name != "postgresql":
        held = sa.select(Timer.id).where(Timer.workflow_id == wf.id)
    session.execute(sa.update(Timer).where(Timer.id.in_(held)).values(due_at=now))
    session.execute(
        sa.update(Job)
        .where(Job.workflow_id == wf.id, Job.kind == JobKind.DEPENDENCY, Job.status == JobStatus.PENDING)
        .values(next_attempt_at=now)
    )


def refuse_if_suspended(wf: Workflow, target: str | None = None) -> None:
    """Writes to a suspended workflow are refused (a cancellation is let through)."""
    if wf.suspended_at is not None and target != WorkflowStatus.CANCELLED:
        raise Conflict(
            f"the workflow is suspended ({wf.suspend_reason or 'no reason given'}): "
            "no changes until an operator resumes it",
            suspended={"reason": wf.suspend_reason or "", "since": wf.suspended_at.isoformat().replace("+00:00", "Z")},
        )


def context_extra(wf: Workflow, version: TemplateVersion | None) -> dict[str, Any]:
    """What /context adds: when the next timer fires, and the suspension (or null)."""
    nxt = next_timer(wf, version)
    suspended = None
    if wf.suspended_at is not None:
        suspended = {"reason": wf.suspend_reason or "", "since": wf.suspended_at.isoformat().replace("+00:00", "Z")}
    extra: dict[str, Any] = {"next_timer": nxt, "suspended": suspended}
    if wf.waiting_for is not None:
        extra["waiting_for"] = waiting_for_with_timer(wf, version, nxt)
    return extra


def waiting_for_with_timer(
    wf: Workflow, version: TemplateVersion | None, nxt: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The workflow's waiting_for with `next_timer` ({kind, due_at} or null) inside, or None when
    it waits for nothing. `version` is the workflow's template version (its timers)."""
    if wf.waiting_for is None:
        return None
    return {**wf.waiting_for, "next_timer": nxt if nxt is not None else next_timer(wf, version)}
