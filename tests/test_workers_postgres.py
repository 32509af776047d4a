"""`flask --app app worker` processes sharing PostgreSQL: 3 workers, 300 workflows completed
through the API, every end action delivered once; a worker killed with SIGKILL in the middle of
a call: its job is delivered again, with the same key, once its lease ends."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from receivers import Answer, Receiver

from wfapp.models import Job, JobStatus
from wfapp.outbox.http import verify_signature

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL, reason="needs PostgreSQL: set WFAPP_TEST_DATABASE_URL (workers claim with FOR UPDATE SKIP LOCKED)"
    ),
]

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = 300


def start_worker(tmp_path, n: int, concurrency: int = 2) -> subprocess.Popen:
    env = {
        **os.environ,
        "WFAPP_DATABASE_URL": PG_URL,
        "WFAPP_SECRET_KEY": "worker-test",
        "WFAPP_SIGNING_SECRET": "test-signing-secret",
        "WFAPP_OUTBOUND_ALLOW": "127.0.0.1",
        "WFAPP_JOB_LEASE_S": "1",
        "WFAPP_OUTBOUND_CONNECT_TIMEOUT_S": "1",
        "WFAPP_DISPATCHER_POLL_S": "0.1",
        "WFAPP_JOB_BACKOFF_BASE_S": "0.1",
        "WFAPP_JOB_BACKOFF_CAP_S": "1",
    }
    log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115 (handed to the child process)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "worker", "--concurrency", str(concurrency)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_three_workers_deliver_every_end_action_once_and_survive_a_sigkill(
    api, app, db, tmp_path, make_end_user, make_workflow_template
):
    hold = threading.Event()
    hang_count = Counter()

    def script(req):
        if req.path == "/hang":
            hang_count["n"] += 1
            if hang_count["n"] == 1:
                return Answer(200, hold=hold)  # the first attempt never gets its answer
        return Answer(200, body={"accepted": True})

    workers: list[subprocess.Popen] = []
    with Receiver(script) as rx:
        user = make_end_user()
        grant = [user["user_type_id"]]
        target = {"endpoint": rx.url + "/loans", "method": "POST", "timeout_s": 2}
        loan = make_workflow_template(
            name="loan_application", grant_to=grant, end_action_type="api_call", end_action_target=target
        )
        slow = make_workflow_template(
            name="slow_bank",
            grant_to=grant,
            end_action_type="api_call",
            end_action_target={**target, "endpoint": rx.url + "/hang"},
        )
        try:
            workers = [start_worker(tmp_path, i) for i in range(3)]

            # a call in flight when its worker is killed
            r = api.post(
                "/api/workflows", {"template_id": slow["id"], "user_id": user["id"], "conversation_id": "c-hang"}
            )
            hang_id = r.json["id"]
            r = api.put(
                f"/api/workflows/{hang_id}", {"state_data": {"amount": 5000, "purpose": "x"}, "status": "completed"}
            )
            assert r.status_code == 200, r.json
            wait_until(lambda: len(rx.requests) >= 1, 30, "the first call of the slow end action")
            hang_job = db.scalar(sa.select(Job).where(Job.workflow_id == uuid.UUID(hang_id)))
            pid = int(hang_job.locked_by.split(":")[1])
            victim = next(w for w in workers if w.pid == pid)
            os.kill(pid, signal.SIGKILL)
            victim.wait(10)
            assert victim.returncode == -signal.SIGKILL

            # 300 workflows completed through the API while the other two workers send
            started = time.monotonic()
            for i in range(WORKFLOWS):
                r = api.post(
                    "/api/workflows",
                    {"template_id": loan["id"], "user_id": user["id"], "conversation_id": f"conv-{i}"},
                    role="integration",
                )
                assert r.status_code == 201, r.json
                r = api.put(
                    f"/api/workflows/{r.json['id']}",
                    {"state_data": {"amount": 1000 + i, "purpose": "load"}, "status": "completed"},
                    role="integration",
                )
                assert r.status_code == 200, r.json

            def all_done():
                return db.count(Job, Job.status != JobStatus.SUCCEEDED) == 0 and db.count(Job) == WORKFLOWS + 1

            wait_until(all_done, 120, "every job to succeed")
            elapsed = time.monotonic() - started
        finally:
            hold.set()
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(30)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait(5)

    survivors = [w for w in workers if w.returncode != -signal.SIGKILL]
    assert len(survivors) == 2
    assert all(w.returncode == 0 for w in survivors), [(tmp_path / f"worker{i}.log").read_text() for i in range(3)]

    jobs = db.scalars(sa.select(Job))
    keys = {j.idempotency_key for j in jobs}
    per_key = Counter(r.headers["Idempotency-Key"] for r in rx.requests)
    assert set(per_key) == keys  # every end action delivered
    hang_job = next(j for j in jobs if str(j.workflow_id) == hang_id)
    duplicates = {k: n for k, n in per_key.items() if n > 1}
    assert duplicates == {hang_job.idempotency_key: 2}  # none twice, but the one whose worker died
    assert hang_job.attempts == 2 and hang_job.status == JobStatus.SUCCEEDED
    hang_requests = [r for r in rx.requests if r.path == "/hang"]
    assert [r.headers["X-Wfapp-Attempt"] for r in hang_requests] == ["1", "2"]
    assert hang_requests[0].body == hang_requests[1].body
    assert all(verify_signature("test-signing-secret", r.body, r.headers["X-Wfapp-Signature"]) for r in rx.requests)
    # the work was shared: both surviving workers sent end actions
    senders = {j.locked_by.split(":")[1] for j in jobs if j.locked_by}
    assert len(senders) >= 2, senders
    assert elapsed < 120
