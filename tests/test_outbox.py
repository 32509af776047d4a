"""End actions through the outbox, against a real HTTP server on 127.0.0.1: retries with backoff,
one Idempotency-Key, a verifiable signature, incidents and their retry."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from receivers import FAST, Answer, Receiver, drain

from wfapp.extensions import db as _db
from wfapp.models import Job, JobStatus, Workflow, WorkflowStatus
from wfapp.models.types import utcnow
from wfapp.outbox.http import verify_signature
from wfapp.outbox.jobs import backoff_s, claim_due_jobs
from wfapp.outbox.run import run_due_jobs
from wfapp.services.outbox import OutboxSettings

STATE = {"amount": 50000, "purpose": "Home improvement"}


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def completed_workflow(api, make_workflow, target, end_action_type="api_call", **kw):
    wf = make_workflow(end_action_type=end_action_type, end_action_target=target, **kw)
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"}, role="integration")
    assert r.status_code == 200, r.json
    return r.json


def events_of(api, wf, type_):
    return [e["data"] for e in api.get(f"/api/workflows/{wf['id']}/events").json["items"] if e["type"] == type_]


def test_500_then_timeout_then_200_arrives_three_times_with_one_key(api, app, db, make_workflow):
    with Receiver([500, "timeout", 200]) as rx:
        wf = completed_workflow(
            api, make_workflow, {"endpoint": rx.url + "/loans/apply", "method": "POST", "timeout_s": 0.4}
        )
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.PENDING and job.attempts == 0  # written with the completion
        drain(app, db)
        rx.wait_for(3)
    assert len(rx.requests) == 3
    keys = {r.headers["Idempotency-Key"] for r in rx.requests}
    assert keys == {job.idempotency_key}
    for r in rx.requests:
        assert r.method == "POST" and r.path == "/loans/apply"
        assert r.headers["Content-Type"] == "application/json"
        assert verify_signature("test-signing-secret", r.body, r.headers["X-Wfapp-Signature"])
        assert not verify_signature("another-secret", r.body, r.headers["X-Wfapp-Signature"])
    assert [r.headers["X-Wfapp-Attempt"] for r in rx.requests] == ["1", "2", "3"]
    body = rx.requests[0].json()
    assert body == {
        "workflow_id": wf["id"],
        "template": wf["template_name"],
        "template_version": 1,
        "user_id": wf["user_id"],
        "conversation_id": wf["conversation_id"],
        "state_data": STATE,
        "completed_at": wf["completed_at"],
        "verifications": [],  # no dependency: nothing was verified
    }
    assert rx.requests[0].body == rx.requests[2].body  # byte for byte the same on every attempt

    attempts = events_of(api, wf, "end_action_attempt")
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, None, 200]
    assert [a["outcome"] for a in attempts] == ["retry", "retry", "succeeded"]
    assert "timed out" in attempts[1]["error"]
    assert all(isinstance(a["duration_ms"], int) for a in attempts)
    assert attempts[1]["duration_ms"] >= 300
    assert attempts[0]["excerpt"] and len(attempts[0]["excerpt"]) <= 500
    job = db.get(Job, job.id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 3 and job.finished_at
    jobs = api.get(f"/api/workflows/{wf['id']}/jobs").json["items"]
    assert [(j["status"], j["attempts"]) for j in jobs] == [("succeeded", 3)]


def test_400_is_dead_at_once_visible_and_retried_after_the_fix(api, app, db, make_workflow):
    answers = [400]
    with Receiver(lambda req: answers[0]) as rx:
        wf = completed_workflow(api, make_workflow, {"endpoint": rx.url + "/apply"})
        run_due_jobs(app)
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.DEAD and job.attempts == 1
        assert "400" in job.last_error

        incidents = api.get("/api/jobs?status=dead", role="viewer").json["items"]
        assert [(i["id"], i["workflow_id"], i["kind"], i["endpoint"]) for i in incidents] == [
            (job.id, wf["id"], "end_action", rx.url + "/apply")
        ]
        assert "answered 400" in incidents[0]["last_error"]
        assert "body" not in incidents[0]
        assert api.get(f"/api/workflows/{wf['id']}/jobs").json["items"][0]["status"] == "dead"

        # nothing is sent again by itself
        run_due_jobs(app)
        assert len(rx.requests) == 1

        answers[0] = 200  # the receiver is fixed
        assert api.post(f"/api/workflows/{wf['id']}/end-action/retry", role="viewer").status_code == 403
        r = api.post(f"/api/workflows/{wf['id']}/end-action/retry", role="operator")
        assert r.status_code == 202, r.json
        assert r.json["status"] == "pending" and r.json["attempts"] == 0
        drain(app, db)
        rx.wait_for(2)
    assert len(rx.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in rx.requests} == {job.idempotency_key}
    assert db.get(Job, job.id).status == JobStatus.SUCCEEDED
    assert api.get("/api/jobs?status=dead").json["items"] == []
    # a job that is not dead is not retried again
    r = api.post(f"/api/workflows/{wf['id']}/end-action/retry")
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    types = [e["type"] for e in api.get(f"/api/workflows/{wf['id']}/events").json["items"]]
    assert types[-3:] == ["end_action_attempt", "job_retry_requested", "end_action_attempt"]


def test_exhausted_attempts_make_the_job_dead(api, app, db, make_workflow):
    app.config["JOB_MAX_ATTEMPTS"] = 3
    with Receiver([503]) as rx:
        wf = completed_workflow(api, make_workflow, {"endpoint": rx.url})
        drain(app, db)
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.DEAD and job.attempts == 3 and len(rx.requests) == 3
    assert "after 3 attempts" in job.last_error
    assert [a["outcome"] for a in events_of(api, wf, "end_action_attempt")] == ["retry", "retry", "dead"]


def test_retry_job_command_re_arms_a_dead_job(api, app, db, make_workflow):
    answers = [422]
    with Receiver(lambda req: answers[0]) as rx:
        completed_workflow(api, make_workflow, {"endpoint": rx.url})
        run_due_jobs(app)
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.DEAD
        answers[0] = 201
        result = app.test_cli_runner().invoke(args=["retry-job", str(job.id)])
        assert result.exit_code == 0, result.output
        assert "pending again" in result.output
        drain(app, db)
        assert db.get(Job, job.id).status == JobStatus.SUCCEEDED
        result = app.test_cli_runner().invoke(args=["retry-job", str(job.id)])
        assert result.exit_code != 0 and "only a dead job" in result.output
        assert app.test_cli_runner().invoke(args=["retry-job", "999999"]).exit_code != 0


def test_an_expired_lease_is_claimed_again_and_counts_as_an_attempt(api, app, db, make_workflow):
    app.config["JOB_MAX_ATTEMPTS"] = 2
    with Receiver([200]) as rx:
        wf = completed_workflow(api, make_workflow, {"endpoint": rx.url})
        with app.app_context():  # a worker claims the job, then dies before calling
            [job] = claim_due_jobs(_db.session, "dead-worker", OutboxSettings.from_config(app.config), 1)
            job_id = job.id
            _db.session.commit()
            assert (
                claim_due_jobs(_db.session, "other", OutboxSettings.from_config(app.config), 1) == []
            )  # leased: nobody else takes it
            _db.session.rollback()
            job = _db.session.get(Job, job_id)
            job.locked_until = utcnow() - timedelta(seconds=1)  # the lease ends
            _db.session.commit()
        drain(app, db)
    job = db.get(Job, job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert len(rx.requests) == 1 and rx.requests[0].headers["X-Wfapp-Attempt"] == "2"

    # the same on the last attempt: the job becomes an incident instead of looping
    wf2 = completed_workflow(api, make_workflow, {"endpoint": rx.url})
    with app.app_context():
        for _ in range(2):
            [job2] = claim_due_jobs(_db.session, "dead-worker", OutboxSettings.from_config(app.config), 1)
            job2.locked_until = utcnow() - timedelta(seconds=1)
            _db.session.commit()
    run_due_jobs(app)
    job2 = db.scalar(sa.select(Job).where(Job.workflow_id == uuid.UUID(wf2["id"])))
    assert job2.status == JobStatus.DEAD and "never finished" in job2.last_error
    assert events_of(api, wf2, "end_action_attempt")[-1]["outcome"] == "dead"
    assert wf["id"] != wf2["id"]


def test_start_workflow_end_action_starts_the_follow_up(
    api, app, db, make_workflow, make_workflow_template, make_end_user
):
    user = make_end_user()
    follow = make_workflow_template(name="loan_documents", grant_to=[user["user_type_id"]])
    wf = completed_workflow(
        api, make_workflow, {"template": "loan_documents"}, end_action_type="start_workflow", user=user
    )
    drain(app, db)
    started = db.scalars(sa.select(Workflow).where(Workflow.template_id == uuid.UUID(follow["id"])))
    assert len(started) == 1
    assert (started[0].user_id, started[0].conversation_id, started[0].status) == (
        user["id"],
        wf["conversation_id"],
        WorkflowStatus.ACTIVE,
    )
    attempt = events_of(api, wf, "end_action_attempt")[0]
    assert attempt["outcome"] == "succeeded" and attempt["workflow_id"] == str(started[0].id)


def test_start_workflow_end_action_refused_is_an_incident(api, app, db, make_workflow, make_workflow_template):
    make_workflow_template(name="not_granted")
    wf = completed_workflow(api, make_workflow, {"template": "not_granted"}, end_action_type="start_workflow")
    drain(app, db)
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.DEAD and "may not start" in job.last_error
    assert db.count(Workflow) == 1  # no follow-up was started
    assert api.get("/api/jobs?status=dead").json["items"][0]["workflow_id"] == wf["id"]


def test_end_action_none_writes_no_job(api, db, make_workflow):
    wf = make_workflow()
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"})
    assert r.status_code == 200
    assert db.count(Job) == 0


def test_429_retry_after_and_backoff_are_capped_with_jitter(app):
    with app.app_context():
        app.config.update(JOB_BACKOFF_BASE_S=2.0, JOB_BACKOFF_CAP_S=60.0)
        settings = OutboxSettings.from_config(app.config)
        assert all(1.0 <= backoff_s(1, settings) <= 2.0 for _ in range(50))
        assert all(4.0 <= backoff_s(3, settings) <= 8.0 for _ in range(50))
        assert all(30.0 <= backoff_s(30, settings) <= 60.0 for _ in range(50))
        assert len({backoff_s(4, settings) for _ in range(20)}) > 1  # jitter
        assert backoff_s(1, settings, retry_after_s=30) == 30
        assert backoff_s(1, settings, retry_after_s=3600) == 60


def test_jobs_listing_and_openapi(api, app, make_workflow):
    assert api.get("/api/jobs?status=nope").status_code == 422
    assert api.get("/api/jobs", role="viewer").json == {"items": [], "next_before": None}
    assert api.get("/api/workflows/00000000-0000-0000-0000-000000000000/jobs").status_code == 404
    doc = api.get("/api/openapi.json").json
    for path in (
        "/api/workflows/{workflow_id}/dependencies/{name}",
        "/api/callbacks/{credential}",
        "/api/workflows/{workflow_id}/end-action/retry",
        "/api/workflows/{workflow_id}/jobs",
        "/api/jobs",
        "/api/jobs/{job_id}/retry",
    ):
        assert path in doc["paths"], path
    assert "Job" in doc["components"]["schemas"]


def test_workers_answer_arrives_outside_the_transaction(api, app, db, make_workflow):
    """While the receiver holds the call, the database is free: the API still writes."""
    import threading

    hold = threading.Event()
    with Receiver([Answer(200, hold=hold)]) as rx:
        completed_workflow(api, make_workflow, {"endpoint": rx.url})
        t = threading.Thread(target=run_due_jobs, args=(app,))
        t.start()
        try:
            rx.wait_for(1)
            other = make_workflow()
            r = api.put(f"/api/workflows/{other['id']}", {"state_data": {"amount": 2000}})
            assert r.status_code == 200
        finally:
            hold.set()
            t.join(10)
    assert db.scalars(sa.select(Job))[0].status == JobStatus.SUCCEEDED


def test_the_embedded_dispatcher_thread_sends_by_itself(api, app, db, make_workflow):
    from wfapp.outbox.run import start_embedded, stop_embedded

    app.config["DISPATCHER_POLL_S"] = 0.05
    with Receiver([200]) as rx:
        start_embedded(app)
        try:
            completed_workflow(api, make_workflow, {"endpoint": rx.url})
            rx.wait_for(1, timeout=10)
            import time

            deadline = time.monotonic() + 10
            while db.scalars(sa.select(Job))[0].status != JobStatus.SUCCEEDED and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop_embedded(app)
    assert db.scalars(sa.select(Job))[0].status == JobStatus.SUCCEEDED
