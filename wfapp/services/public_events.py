"""Public events: the workflow history's changes as the outside world sees them, for webhook
subscriptions and the pull feed (GET /api/events).

The one place that maps workflow events to public event types is `public_types`. record_event
(services/events.py) notes every workflow event it writes; when the session flushes, the notes
become `event_outbox` rows (one INSERT for all of them) and, for each subscription that wants an
event, a `webhook` job (one INSERT for all subscribers), in the transaction of the change. No
subscription: no job, and the subscription list comes from a per-process cache (a few seconds).

Events of one workflow carry its event `seq`: webhooks are sent by parallel workers and retried
with backoff, so a receiver may get them in any order and orders them by seq.
"""

import functools
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import EventSubscription, Job, JobKind, PublicEvent, Workflow, WorkflowEvent, WorkflowTemplate
from wfapp.models.types import utcnow

EVENT_TYPES = (
    "workflow.started",
    "workflow.waiting",
    "workflow.resumed",
    "workflow.completed",
    "workflow.failed",
    "workflow.cancelled",
    "workflow.expired",
    "workflow.state_changed",
    "workflow.reminder",
    "dependency.succeeded",
    "dependency.failed",
    "end_action.delivered",
    "end_action.dead",
    "handoff.requested",
    "handoff.returned",
)
PENDING_KEY = "wfapp.public_events"
JOBS_KEY = "wfapp.public_event_jobs"  # webhook jobs of a workflow written by this flush
SUBSCRIPTIONS_TTL_S = 2.0
TIMER_ACTOR = "timer"
# the event namespace of the stable public event ids
# Attempts before a webhook delivery is dead; create_app sets it from WFAPP_JOB_MAX_ATTEMPTS (the
# deliveries are written by a flush listener, which no caller can hand settings to).
_settings = {"max_attempts": 8}


def configure(max_attempts: int) -> None:
    _settings["max_attempts"] = int(max_attempts)


NAMESPACE = uuid.UUID("7d0c5a52-0f4e-4a8e-9a52-6c1f3b7c2e11")


def public_types(type_: str, actor: str, data: dict[str, Any], waiting_for: Any) -> list[tuple[str, dict[str, Any]]]:
    """The public events (type, data) of one workflow event; most workflow events have none.
    Never carries state_data values: a changed state names its fields only."""
    out: list[tuple[str, dict[str, Any]]] = []
    if type_ == "started":
        out.append(("workflow.started", {"version": data.get("version")}))
    elif type_ == "status_changed":
        status = data.get("status") or {}
        to, reason = status.get("to"), data.get("reason") or ""
        if to == "waiting":
            out.append(("workflow.waiting", {"waiting_for": waiting_for}))
        elif to == "active" and status.get("from") == "waiting":
            out.append(("workflow.resumed", {}))
        elif to == "cancelled" and reason == "expired" and actor == TIMER_ACTOR:
            out.append(("workflow.expired", {"reason": reason}))
        elif to in ("completed", "failed", "cancelled"):
            out.append((f"workflow.{to}", {"reason": reason} if reason else {}))
    elif type_ == "state_updated" and data.get("source") not in (None, "api"):
        out.append(("workflow.state_changed", {"fields": _fields(data.get("diff")), "source": data.get("source")}))
    elif type_ == "dependency_succeeded":
        out.append(("dependency.succeeded", {"name": data.get("name"), "source": data.get("source")}))
        if data.get("diff"):
            out.append(("workflow.state_changed", {"fields": _fields(data["diff"]), "source": "dependency"}))
    elif type_ == "dependency_failed":
        keep = ("name", "error", "action", "source")
        out.append(("dependency.failed", {k: data[k] for k in keep if k in data}))
    elif type_ == "end_action_attempt":
        if data.get("outcome") == "succeeded":
            out.append(("end_action.delivered", {"job_id": data.get("job_id"), "attempt": data.get("attempt")}))
        elif data.get("outcome") == "dead":
            out.append(("end_action.dead", {"job_id": data.get("job_id"), "error": data.get("error")}))
    elif type_ == "reminder":
        out.append(("workflow.reminder", {"idle_since": data.get("idle_since")}))
    elif type_ in ("handoff_requested", "handoff_returned"):
        out.append((type_.replace("_", ".", 1), dict(data)))
    return out


def _fields(diff: dict[str, Any] | None) -> list[str]:
    diff = diff or {}
    return sorted(set(diff.get("set") or {}) | set(diff.get("removed") or []))


def note(session, wf: Workflow, event: WorkflowEvent) -> None:
    """Called by record_event: the event becomes public events when the session flushes (so that
    an attempt's outcome, filled in after record_event, is seen)."""
    session.info.setdefault(PENDING_KEY, []).append((wf, event, wf.waiting_for))


# --- subscriptions (cached per process) -------------------------------------------------------

_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_cache_lock = threading.Lock()


def _db_key(session) -> str:
    return str(session.get_bind().url)


def invalidate(session=None) -> None:
    with _cache_lock:
        if session is None:
            _cache.clear()
        else:
            _cache.pop(_db_key(session), None)


def active_subscriptions(session) -> list[dict[str, Any]]:
    key = _db_key(session)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < SUBSCRIPTIONS_TTL_S:
        return hit[1]
    rows = session.execute(
        sa.select(
            EventSubscription.id, EventSubscription.url, EventSubscription.event_types, EventSubscription.templates
        )
        .where(EventSubscription.is_active.is_(True))
        .order_by(EventSubscription.id)
    ).all()
    subs = [
        {"id": r.id, "url": r.url, "types": set(r.event_types or []), "templates": set(r.templates or [])} for r in rows
    ]
    with _cache_lock:
        _cache[key] = (now, subs)
    return subs


_template_names: dict[tuple[str, Any], str] = {}


def _template_name(session, wf: Workflow) -> str:
    loaded: WorkflowTemplate | None = sa.inspect(wf).dict.get("template")
    if loaded is not None:
        return loaded.name
    key = (_db_key(session), wf.template_id)
    name = _template_names.get(key)
    if name is None:
        template = session.get(WorkflowTemplate, wf.template_id)
        name = template.name if template else ""
        _template_names[key] = name
    return name


# --- at flush time ----------------------------------------------------------------------------


def body(e: PublicEvent) -> dict[str, Any]:
    """The JSON document of a public event: the webhook's body and an item of the feed."""
    return {
        "id": str(e.event_id),
        "type": e.type,
        "created_at": e.created_at.isoformat().replace("+00:00", "Z"),
        "workflow_id": str(e.workflow_id),
        "seq": e.seq,
        "template": e.template,
        "actor": e.actor,
        "data": e.data,
    }


def _before_flush(session, _flush_context, _instances) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    from wfapp.services import timers

    events: list[PublicEvent] = []
    flushed: list[tuple[Workflow, WorkflowEvent]] = []
    for wf, ev, waiting_for in pending:
        if ev not in session.new:  # expunged (a refused start) or rolled back with a savepoint
            continue
        flushed.append((wf, ev))
        timers.on_workflow_event(session, wf, ev)
        kinds = public_types(ev.type, ev.actor, ev.data or {}, waiting_for)
        if not kinds:
            continue
        template = _template_name(session, wf)
        for public_type, data in kinds:
            events.append(
                PublicEvent(
                    event_id=uuid.uuid5(NAMESPACE, f"{wf.id}/{ev.seq}/{public_type}"),
                    type=public_type,
                    workflow_id=wf.id,
                    seq=ev.seq,
                    template=template,
                    actor=ev.actor,
                    data=data,
                    created_at=ev.created_at,
                )
            )
    if not _write_in_one_statement(session, flushed, events):
        session.add_all(events)
    if not events:
        return
    subs = active_subscriptions(session)
    if not subs:
        return
    now = utcnow()
    jobs: list[dict[str, Any]] = []
    for e in events:
        doc = body(e)
        for s in subs:
            if e.type in s["types"] and (not s["templates"] or e.template in s["templates"]):
                jobs.append(
                    dict(
                        kind=JobKind.WEBHOOK,
                        workflow_id=e.workflow_id,
                        idempotency_key=f"{e.event_id}.{s['id']}",
                        payload={
                            "type": "webhook",
                            "subscription_id": s["id"],
                            "event_id": str(e.event_id),
                            "event_type": e.type,
                            "target": {"endpoint": s["url"]},
                            "body": doc,
                        },
                        max_attempts=_settings["max_attempts"],
                        next_attempt_at=now,
                    )
                )
    if not jobs:
        return
    # one statement however many subscribers there are: now, or after the flush when the
    # workflow they belong to is yet to be written (that flush has work, so it runs _after_flush)
    if any(isinstance(o, Workflow) for o in session.new):
        session.info.setdefault(JOBS_KEY, []).extend(jobs)
    else:
        session.execute(sa.insert(Job), jobs)


def _column_changes(obj: Any) -> dict[str, Any] | None:
    """The changed columns of a persistent object, {column key: new value}; None when a
    relationship changed too (that one is left to the ORM)."""
    state = sa.inspect(obj)
    mapper = state.mapper
    changes: dict[str, Any] = {}
    for key in state.committed_state:
        if key not in mapper.column_attrs:
            return None
        if state.attrs[key].history.has_changes():
            changes[mapper.column_attrs[key].columns[0].key] = state.dict.get(key)
    return changes


def _write_in_one_statement(session, flushed: list[tuple[Workflow, WorkflowEvent]], events: list[PublicEvent]) -> bool:
    """The usual flush of one change, written without the ORM's unit of work: the workflow
    event, its public events and the changed columns of the workflow and of its jobs. On
    PostgreSQL in one statement (an UPDATE of the workflow with the others as data-modifying
    CTEs, RETURNING the event's id); SQLite has no INSERT in a CTE, so there they are the
    statements the ORM would send. The objects are then persistent and clean, and the flush
    writes them no more. Any other flush (several events, whose ids follow their order; a
    workflow not yet written; a changed relationship) is left to the ORM."""
    if len(flushed) != 1:
        return False
    wf, ev = flushed[0]
    if ev.workflow_id != wf.id or any(isinstance(o, Workflow) for o in session.new):
        return False
    wf_changes = _column_changes(wf) if wf in session.dirty else {}
    if wf_changes is None or not (wf_changes or events):
        return False
    folded: list[tuple[Any, dict[str, Any]]] = [(wf, wf_changes)] if wf_changes else []
    for obj in session.dirty:
        if isinstance(obj, Job) and obj not in session.deleted:
            changes = _column_changes(obj)
            if changes is None:
                return False
            if changes:
                folded.append((obj, changes))
    row = {c.key: getattr(ev, c.key) for c in _EVENTS.columns if c.key != "id"}
    rows = [{c.key: getattr(e, c.key) for c in _PUBLIC.columns if c.key != "id"} for e in events]
    if session.get_bind().dialect.name != "postgresql":
        # no INSERT in a CTE: the same statements the ORM would send, without its unit of work
        ev.id = session.execute(_EVENT_INSERT, row).inserted_primary_key[0]
        if rows:
            session.execute(_PUBLIC_INSERT, rows)
        for obj, changes in folded:
            update = _WORKFLOW_UPDATE if isinstance(obj, Workflow) else _JOB_UPDATE
            session.execute(update, {"b_id": obj.id, **changes})
        _written(session, ev, folded)
        return True
    jobs = [(job, changes) for job, changes in folded if isinstance(job, Job)]
    shape = (tuple(row), tuple(wf_changes), tuple(tuple(c) for _, c in jobs), len(rows))
    statement = _one_statement(*shape)
    params = {f"e_{k}": v for k, v in row.items()} | {f"w_{k}": v for k, v in wf_changes.items()} | {"w_id": wf.id}
    for n, public in enumerate(rows):
        params |= {f"p{n}_{k}": v for k, v in public.items()}
    for n, (job, changes) in enumerate(jobs):
        params |= {f"j{n}_{k}": v for k, v in changes.items()} | {f"j{n}_id": job.id}
    ev.id = session.execute(statement, params).scalars().first()
    _written(session, ev, folded)
    return True


_EVENTS: sa.Table = WorkflowEvent.__table__  # type: ignore[assignment]
_PUBLIC: sa.Table = PublicEvent.__table__  # type: ignore[assignment]
_WORKFLOWS: sa.Table = Workflow.__table__  # type: ignore[assignment]
_JOBS: sa.Table = Job.__table__  # type: ignore[assignment]
# built once, with their cache keys: the statements of every change
_EVENT_INSERT = sa.insert(_EVENTS)
_PUBLIC_INSERT = sa.insert(_PUBLIC)
_WORKFLOW_UPDATE = sa.update(_WORKFLOWS).where(_WORKFLOWS.c.id == sa.bindparam("b_id"))
_JOB_UPDATE = sa.update(_JOBS).where(_JOBS.c.id == sa.bindparam("b_id"))


def _bound(table: sa.Table, keys: tuple[str, ...], prefix: str) -> dict[str, Any]:
    return {k: sa.bindparam(prefix + k, type_=table.c[k].type) for k in keys}


@functools.cache  # one per shape of change (a handful)
def _one_statement(
    event_keys: tuple[str, ...], wf_keys: tuple[str, ...], job_keys: tuple[tuple[str, ...], ...], n_public: int
) -> Any:
    """PostgreSQL: the event (a CTE RETURNING its id), its public events and the job updates as
    data-modifying CTEs of the workflow's UPDATE; or of the public events' INSERT when the
    workflow has no change to write (a start wrote it in an earlier flush)."""
    inserted = (
        sa.insert(_EVENTS).values(_bound(_EVENTS, event_keys, "e_")).returning(_EVENTS.c.id).cte("workflow_event")
    )
    public_keys = tuple(c.key for c in _PUBLIC.columns if c.key != "id")
    public_rows = [_bound(_PUBLIC, public_keys, f"p{n}_") for n in range(n_public)]
    statement: Any
    if wf_keys:
        statement = (
            sa.update(_WORKFLOWS)
            .where(_WORKFLOWS.c.id == sa.bindparam("w_id"))
            .values(_bound(_WORKFLOWS, wf_keys, "w_"))
        )
        if public_rows:
            statement = statement.add_cte(sa.insert(_PUBLIC).values(public_rows).cte("public_events"))
    else:
        statement = sa.insert(_PUBLIC).values(public_rows)
    statement = statement.add_cte(inserted).returning(sa.select(inserted.c.id).scalar_subquery())
    for n, keys in enumerate(job_keys):
        job_update = (
            sa.update(_JOBS).where(_JOBS.c.id == sa.bindparam(f"j{n}_id")).values(_bound(_JOBS, keys, f"j{n}_"))
        )
        statement = statement.add_cte(job_update.cte(f"job_{n}"))
    return statement


def _written(session, ev: WorkflowEvent, folded: list[tuple[Any, dict[str, Any]]]) -> None:
    """The event and the changed objects are in the database: persistent and clean."""
    session.expunge(ev)
    so.make_transient_to_detached(ev)
    session.add(ev)  # persistent: the flush writes it no more
    for obj, _changes in folded:
        # every changed attribute is a column just written (_column_changes): the object is
        # clean, and the flush that called us finds nothing left to do
        state = sa.inspect(obj)
        state._commit_all(state.dict, session.identity_map)


def _after_flush(session, _flush_context) -> None:
    jobs = session.info.pop(JOBS_KEY, None)
    if jobs:
        session.execute(sa.insert(Job), jobs)  # one executemany, not an ORM INSERT per job


def _forget(session, *_args) -> None:
    """After a rollback (a savepoint's too), keep the notes of events that still exist."""
    session.info.pop(JOBS_KEY, None)  # their flush failed
    pending = session.info.get(PENDING_KEY)
    if pending:
        session.info[PENDING_KEY] = [p for p in pending if p[1] in session.new]


sa.event.listen(so.Session, "before_flush", _before_flush)
sa.event.listen(so.Session, "after_flush", _after_flush)
sa.event.listen(so.Session, "after_soft_rollback", _forget)


# --- the pull feed ----------------------------------------------------------------------------


def assign_positions(session) -> None:
    """Give the committed events that have none the next feed positions, in id order, one
    sequencer at a time (PostgreSQL: an advisory lock; SQLite: the write lock). Events committed
    later get later positions, so a reader past position N never misses one below N."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(724301)"))
    session.execute(
        sa.text(
            "UPDATE event_outbox SET position = numbered.base + numbered.rn FROM ("
            " SELECT id, row_number() OVER (ORDER BY id) AS rn,"
            " (SELECT coalesce(max(position), 0) FROM event_outbox) AS base"
            " FROM event_outbox WHERE position IS NULL) AS numbered"
            " WHERE event_outbox.id = numbered.id"
        )
    )


def has_unpositioned(session) -> bool:
    return session.scalar(sa.select(PublicEvent.id).where(PublicEvent.position.is_(None)).limit(1)) is not None


def read_feed(session, after: int, limit: int, types: set[str] | None = None) -> list[PublicEvent]:
    q = sa.select(PublicEvent).where(PublicEvent.position > after)
    if types:
        q = q.where(PublicEvent.type.in_(sorted(types)))
    return list(session.scalars(q.order_by(PublicEvent.position).limit(limit)))


def last_position(session) -> int:
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(PublicEvent.position), 0))) or 0)


def oldest_position(session) -> int | None:
    return session.scalar(sa.select(sa.func.min(PublicEvent.position)))


def _purgeable(session, cutoff) -> sa.Select:
    """Positioned events older than `cutoff`, the newest positioned one excepted: the next
    positions count on from it, so readers' cursors stay valid."""
    return sa.select(PublicEvent.id).where(
        PublicEvent.created_at < cutoff,
        PublicEvent.position.is_not(None),
        PublicEvent.position < sa.select(sa.func.max(PublicEvent.position)).scalar_subquery(),
    )


def count_before(session, cutoff) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(_purgeable(session, cutoff).subquery())) or 0)


def purge_before(session, cutoff, limit: int | None = None) -> int:
    """Delete up to `limit` public events older than `cutoff`, oldest first (retention);
    returns how many went."""
    q = _purgeable(session, cutoff).order_by(PublicEvent.position)
    ids = list(session.scalars(q.limit(limit) if limit else q))
    if not ids:
        return 0
    return session.execute(sa.delete(PublicEvent).where(PublicEvent.id.in_(ids))).rowcount or 0
