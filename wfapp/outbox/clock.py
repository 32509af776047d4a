"""Firing due timers (services.timers) from the dispatcher loop, embedded or in `worker`
processes: one short write transaction per timer; the claim (FOR UPDATE SKIP LOCKED on
PostgreSQL, the write lock on SQLite) makes each fire exactly once across any number of workers.
Timers that came due while nothing ran fire at the next round (catching up after downtime)."""

import logging

from flask import Flask

from wfapp.db_setup import begin_write, nothing_to_claim
from wfapp.extensions import db
from wfapp.models.types import utcnow
from wfapp.services import timers
from wfapp.services.outbox import OutboxSettings

log = logging.getLogger(__name__)


def run_due_timers(app: Flask, limit: int = 100) -> int:
    """Handle up to `limit` due timers; returns how many were fired (not merely moved on)."""
    fired = 0
    with app.app_context():
        session = db.session
        settings = OutboxSettings.from_config(app.config)
        if nothing_to_claim(session, timers.ANY_DUE, {"now": utcnow()}):
            return 0
        for _ in range(limit):
            try:
                begin_write(session)
                timer = timers.claim_due(session)
                if timer is None:
                    session.rollback()
                    break
                if timers.fire(session, timer, settings) == "fired":
                    fired += 1
                session.commit()
            except Exception:
                session.rollback()
                raise
    return fired
