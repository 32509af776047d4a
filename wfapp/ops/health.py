"""/healthz and /readyz for load balancers and orchestrators: unauthenticated, cheap, and saying
nothing beyond which check failed.

- ``/healthz``: the process answers (200). Use it as a liveness probe.
- ``/readyz``: 200 when
  - ``database``: the database answers;
  - ``migrations``: its Alembic revision is the head of this code's migrations;
  - ``dispatcher``: no due job has waited longer than READYZ_MAX_JOB_LAG_S (the embedded
    dispatcher or a worker has claimed jobs recently when jobs are due; 0 turns the check off).
  503 otherwise, with the state of each check. Details go to the log, never to the answer.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

bp = Blueprint("ops_health", __name__)
log = logging.getLogger("wfapp.ops.health")

_heads_lock = threading.Lock()


def migration_heads(app) -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code (read once per process)."""
    cached = app.extensions.get("wfapp_ops_migration_heads")
    if cached is not None:
        return cached
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    with _heads_lock:
        migrate = app.extensions.get("migrate")
        directory = getattr(migrate, "directory", None) or str(Path(__file__).resolve().parent.parent / "migrations")
        cfg = Config()
        cfg.set_main_option("script_location", directory)
        heads = frozenset(ScriptDirectory.from_config(cfg).get_heads())
        app.extensions["wfapp_ops_migration_heads"] = heads
    return heads


def database_revisions(conn) -> frozenset[str]:
    from alembic.migration import MigrationContext

    return frozenset(MigrationContext.configure(conn).get_current_heads())


def note_dispatcher_heartbeat() -> None:
    """Called by a dispatcher each time it looks for due jobs (shown on /metrics)."""
    from wfapp.ops.metrics import note_dispatcher_heartbeat as _note

    _note()


def readiness(app) -> dict[str, str]:
    from wfapp.extensions import db
    from wfapp.models import Job, JobStatus
    from wfapp.models.types import utcnow

    checks = {"database": "down", "migrations": "unknown", "dispatcher": "unknown"}
    try:
        with db.engine.connect() as conn:
            current = database_revisions(conn)
            checks["database"] = "ok"
            heads = migration_heads(app)
            checks["migrations"] = "ok" if current == heads else "behind"
            if current != heads:
                log.warning(
                    "readyz: the database is at revision %s, the code expects %s: run `flask --app app db upgrade`",
                    sorted(current) or "none",
                    sorted(heads),
                )
            else:
                max_lag = float(app.config.get("READYZ_MAX_JOB_LAG_S") or 0)
                oldest = None
                if max_lag > 0:
                    oldest = conn.execute(
                        sa.select(sa.func.min(Job.next_attempt_at)).where(
                            Job.status == JobStatus.PENDING,
                            Job.next_attempt_at <= utcnow() - timedelta(seconds=max_lag),
                        )
                    ).scalar()
                checks["dispatcher"] = "ok" if oldest is None else "behind"
                if oldest is not None:
                    log.warning(
                        "readyz: a job due since %s has not been claimed (limit %ss): is a dispatcher "
                        "or worker running?",
                        oldest,
                        max_lag,
                    )
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = "down"
        log.warning("readyz: the database did not answer: %s", exc)
    return checks


def _answer(body: dict, status: int):
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/healthz")
def healthz():
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
def readyz():
    checks = readiness(current_app)
    ready = all(v == "ok" for v in checks.values())
    return _answer({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)
