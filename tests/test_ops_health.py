"""/healthz and /readyz: what a load balancer sees when the database is fine, down, or behind on
migrations, and when nobody claims due jobs."""

import uuid
from datetime import timedelta

import pytest
from ops_support import free_port, set_revision, stamp_head

from wfapp import create_app
from wfapp.extensions import db as _db
from wfapp.models import Job, JobKind, JobStatus
from wfapp.models.types import utcnow


@pytest.fixture
def migrated(app):
    head = stamp_head(app)
    yield head
    set_revision(app, None)  # the PostgreSQL test database is shared: leave it as create_all made it


def add_job(app, workflow_id: str, *, due_ago_s: float, status: JobStatus = JobStatus.PENDING) -> int:
    with app.app_context():
        job = Job(
            kind=JobKind.END_ACTION,
            workflow_id=uuid.UUID(workflow_id),
            idempotency_key=uuid.uuid4().hex,
            payload={},
            status=status,
            next_attempt_at=utcnow() - timedelta(seconds=due_ago_s),
        )
        _db.session.add(job)
        _db.session.commit()
        return job.id


def set_job_status(app, job_id: int, status: JobStatus) -> None:
    with app.app_context():
        _db.session.get(Job, job_id).status = status
        _db.session.commit()


def test_healthz_answers_without_credentials_and_says_nothing_else(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok"}
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_on_a_migrated_database(client, migrated):
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "dispatcher": "ok"}}
    assert migrated not in r.get_data(as_text=True)  # no revision, version or host in the answer


def test_readyz_fails_when_migrations_were_never_applied(client):
    # the fixture's database was made by create_all: no Alembic revision at all
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["status"] == "not ready"
    assert r.json["checks"]["database"] == "ok"
    assert r.json["checks"]["migrations"] == "behind"


def test_readyz_fails_when_the_database_is_behind_the_code(app, client, migrated):
    set_revision(app, "0123456789ab")  # a revision that is not this code's head
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["migrations"] == "behind"
    assert "0123456789ab" not in r.get_data(as_text=True)
    stamp_head(app)
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_the_database_is_down(tmp_path):
    # PostgreSQL on a port where nothing listens: the connection is refused at once
    url = f"postgresql+psycopg://wfapp:secret@127.0.0.1:{free_port()}/wfapp"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SIGNING_SECRET": "test-signing-secret",
            "DISPATCHER_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200  # the process still answers
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json == {
            "status": "not ready",
            "checks": {"database": "down", "migrations": "unknown", "dispatcher": "unknown"},
        }
        assert "127.0.0.1" not in r.get_data(as_text=True) and "secret" not in r.get_data(as_text=True)
    finally:
        with app.app_context():
            _db.engine.dispose()


def test_readyz_fails_when_no_dispatcher_claims_due_jobs(app, client, migrated, make_workflow):
    app.config["READYZ_MAX_JOB_LAG_S"] = 300
    wf = make_workflow()
    fresh = add_job(app, wf["id"], due_ago_s=5)  # due a moment ago: a dispatcher gets to it
    assert client.get("/readyz").status_code == 200
    stale = add_job(app, wf["id"], due_ago_s=600)  # due ten minutes ago and still pending
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"] == {"database": "ok", "migrations": "ok", "dispatcher": "behind"}
    # a worker claims it: ready again
    set_job_status(app, stale, JobStatus.RUNNING)
    assert client.get("/readyz").status_code == 200
    # the check can be turned off
    set_job_status(app, stale, JobStatus.PENDING)
    app.config["READYZ_MAX_JOB_LAG_S"] = 0
    assert client.get("/readyz").status_code == 200
    assert fresh


def test_probes_are_counted_but_not_logged_unless_asked(app, client, capsys):
    client.get("/healthz")
    assert "/healthz" not in capsys.readouterr().err
    app.config["LOG_HEALTH_REQUESTS"] = True
    client.get("/healthz")
    assert '"path": "/healthz"' in capsys.readouterr().err
