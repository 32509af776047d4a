"""Retention: purge completed, failed and cancelled workflows that nobody has changed for longer
than the configured age, with their events and jobs.

- The age is per workflow template (RETENTION_DAYS_BY_TEMPLATE, by name) or global
  (RETENTION_DAYS); 0 keeps workflows forever. ``--older-than-days`` overrides both for one run.
- "Unchanged for N days" reads ``updated_at``: a workflow whose end action was retried yesterday
  is not old. A workflow with a job still pending or running is never purged.
- Deletes go in batches of RETENTION_BATCH_SIZE workflows, one short write transaction each, so
  that the tables are never locked for long.
- A dry run counts, with the same query and cutoff, what a purge would remove.
- Public feed events (``event_outbox``) older than EVENTS_RETENTION_DAYS (default 30; 0 keeps
  them) go in the same run, in batches of 10 x RETENTION_BATCH_SIZE; the newest one always stays
  (the next positions count on from it). A run limited to one template (``--template``) leaves
  them alone.
- A purge writes one audit-log entry (action ``retention.purge``); the dispatcher's daily run
  (RETENTION_PURGE_DAILY) reads the last one, so that many processes purge once a day together.

Workflow dependencies of type ``workflow`` are satisfied by a *completed* workflow of another
template: a purged one no longer counts, so give such templates a longer age (or 0).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from wfapp.db_setup import begin_write
from wfapp.models import TERMINAL_STATUSES, AuditEntry, Job, JobStatus, Workflow, WorkflowEvent, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.ops.logging import log_error
from wfapp.services import public_events

log = logging.getLogger("wfapp.ops.retention")
AUDIT_ACTION = "retention.purge"
DAY = timedelta(days=1)
_TERMINAL = sorted(s.value for s in TERMINAL_STATUSES)
_UNFINISHED_JOBS = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


class RetentionError(Exception):
    pass


@dataclass
class Rule:
    template_id: uuid.UUID
    template_name: str
    days: int
    cutoff: datetime


@dataclass
class PurgeReport:
    dry_run: bool
    rules: list[Rule]
    counts: dict[str, int] = field(default_factory=dict)
    events_days: int = 0  # 0: feed events are kept (or not part of this run)
    events_cutoff: datetime | None = None
    events: int = 0  # feed events purged (or, in a dry run, that would be)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def retention_rules(
    session, config, *, now: datetime, older_than_days: int | None = None, template: str | None = None
) -> list[Rule]:
    by_template = config.get("RETENTION_DAYS_BY_TEMPLATE") or {}
    if not isinstance(by_template, dict):
        raise RetentionError('RETENTION_DAYS_BY_TEMPLATE must be a JSON object: {"template_name": days}')
    default_days = int(config.get("RETENTION_DAYS") or 0)
    query = sa.select(WorkflowTemplate.id, WorkflowTemplate.name).order_by(WorkflowTemplate.name)
    if template is not None:
        query = query.where(WorkflowTemplate.name == template)
    templates = session.execute(query).all()
    if template is not None and not templates:
        raise RetentionError(f"there is no workflow template named {template!r}")
    rules = []
    for template_id, name in templates:
        days = older_than_days if older_than_days is not None else int(by_template.get(name, default_days) or 0)
        if days > 0:
            rules.append(Rule(template_id, name, days, now - days * DAY))
    return rules


def _candidates(rule: Rule) -> sa.Select:
    unfinished = sa.select(Job.id).where(Job.workflow_id == Workflow.id, Job.status.in_(_UNFINISHED_JOBS)).exists()
    return sa.select(Workflow.id).where(
        Workflow.template_id == rule.template_id,
        Workflow.status.in_(_TERMINAL),
        Workflow.updated_at < rule.cutoff,
        ~unfinished,
    )


def count_candidates(session, rule: Rule) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(_candidates(rule).subquery()))


def purge_batch(session, rule: Rule, batch_size: int) -> int:
    """Delete up to batch_size of the rule's workflows (with their events and jobs) in one write
    transaction; returns how many went."""
    begin_write(session)
    try:
        ids = list(session.scalars(_candidates(rule).order_by(Workflow.updated_at, Workflow.id).limit(batch_size)))
        if ids:
            session.execute(sa.delete(WorkflowEvent).where(WorkflowEvent.workflow_id.in_(ids)))
            session.execute(sa.delete(Job).where(Job.workflow_id.in_(ids)))
            session.execute(sa.delete(Workflow).where(Workflow.id.in_(ids), Workflow.status.in_(_TERMINAL)))
        session.commit()
        return len(ids)
    except Exception:
        session.rollback()
        raise


def purge(
    session,
    config,
    *,
    dry_run: bool,
    older_than_days: int | None = None,
    template: str | None = None,
    now: datetime | None = None,
    actor: str = "cli",
) -> PurgeReport:
    now = now or utcnow()
    rules = retention_rules(session, config, now=now, older_than_days=older_than_days, template=template)
    session.rollback()  # end the reading transaction: each batch is its own write transaction
    report = PurgeReport(dry_run=dry_run, rules=rules)
    batch_size = max(1, int(config.get("RETENTION_BATCH_SIZE") or 200))
    if template is None:
        report.events_days = max(0, int(config.get("EVENTS_RETENTION_DAYS", 30) or 0))
        if report.events_days:
            report.events_cutoff = now - report.events_days * DAY
    for rule in rules:
        if dry_run:
            report.counts[rule.template_name] = count_candidates(session, rule)
            session.rollback()
            continue
        done = 0
        while True:
            n = purge_batch(session, rule, batch_size)
            done += n
            if n < batch_size:
                break
        report.counts[rule.template_name] = done
    if report.events_cutoff is not None:
        report.events = _purge_events(session, report.events_cutoff, dry_run, 10 * batch_size)
    if not dry_run:
        begin_write(session)
        session.add(
            AuditEntry(
                actor=actor,
                action=AUDIT_ACTION,
                target_type="workflows",
                target_id="",
                changes={
                    "purged": report.total,
                    "by_template": report.counts,
                    "rules": {r.template_name: r.days for r in rules},
                    "events_purged": report.events,
                    "events_days": report.events_days,
                },
            )
        )
        session.commit()
        log.info(
            "retention: purged %s workflows and %s feed events",
            report.total,
            report.events,
            extra={
                "event": "retention_purge",
                "purged": report.total,
                "by_template": report.counts,
                "events_purged": report.events,
            },
        )
    return report


def _purge_events(session, cutoff: datetime, dry_run: bool, batch_size: int) -> int:
    if dry_run:
        n = public_events.count_before(session, cutoff)
        session.rollback()
        return n
    done = 0
    while True:
        begin_write(session)
        try:
            n = public_events.purge_before(session, cutoff, batch_size)
            session.commit()
        except Exception:
            session.rollback()
            raise
        done += n
        if n < batch_size:
            return done


# --- the dispatcher's daily run -------------------------------------------------------------

CHECK_EVERY_S = 3600.0
_last_check: dict[int, float] = {}
_tick_lock = threading.Lock()


def tick(app: Flask) -> threading.Thread | None:
    """Called by the dispatcher on each round. With RETENTION_PURGE_DAILY, at most once an hour per
    process, starts `run_daily` in a thread of its own (sending jobs never waits for a purge);
    returns that thread, or None."""
    if not app.config.get("RETENTION_PURGE_DAILY"):
        return None
    now = time.monotonic()
    with _tick_lock:
        last = _last_check.get(id(app))
        if last is not None and now - last < CHECK_EVERY_S:
            return None
        _last_check[id(app)] = now
    thread = threading.Thread(target=run_daily, args=(app,), name="wfapp-retention", daemon=True)
    thread.start()
    return thread


def run_daily(app: Flask) -> int | None:
    """Purge unless the dispatcher already did within a day (any process: the audit log says);
    returns how many workflows went, None when it did not run."""
    from wfapp.extensions import db

    try:
        with app.app_context():
            session = db.session
            latest = session.scalar(
                sa.select(sa.func.max(AuditEntry.created_at)).where(
                    AuditEntry.action == AUDIT_ACTION, AuditEntry.actor == "dispatcher"
                )
            )
            session.rollback()
            if latest is not None and utcnow() - _aware(latest) < DAY:
                return None
            return purge(session, app.config, dry_run=False, actor="dispatcher").total
    except Exception as exc:
        log_error(log, exc, "retention: the daily purge failed; trying again in an hour")
        return None


def _aware(ts: datetime) -> datetime:

    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
