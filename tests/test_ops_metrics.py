"""/metrics: Prometheus text from the official client, right under two real gunicorn workers
(counts add up across workers, database numbers are not multiplied), and closed to strangers."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ops_support import free_port
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from receivers import FAST, Receiver

from wfapp import create_app
from wfapp.extensions import db as _db
from wfapp.outbox.run import run_due_jobs

ROOT = Path(__file__).resolve().parent.parent


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels) -> float:
    found = [s.value for s in samples(text) if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert found, f"no sample {name} {labels}"
    return sum(found)


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {"Connection": "close"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


@pytest.fixture
def gunicorn(app, tmp_path):
    """gunicorn with two workers and the repository's gunicorn.conf.py, on the test database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFAPP_")}
    env.update(
        {
            "WFAPP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "WFAPP_SECRET_KEY": "test-secret",
            "WFAPP_SIGNING_SECRET": "test-signing-secret",
            "WFAPP_DISPATCHER_ENABLED": "false",
            "WFAPP_METRICS_DB_TTL_S": "0",
            "WFAPP_LOG_HEALTH_REQUESTS": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        }
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "gunicorn did not start:\n" + log_path.read_text()
            time.sleep(0.1)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def request_pids(log_path: Path, path: str) -> list[int]:
    pids = []
    for raw in log_path.read_text().splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line.get("event") == "request" and line.get("path") == path:
                pids.append(line["pid"])
    return pids


@pytest.mark.multiprocess
def test_counts_add_up_across_two_gunicorn_workers(gunicorn, make_workflow, make_workflow_template, make_end_user):
    url, log_path = gunicorn
    user = make_end_user()
    template = make_workflow_template(grant_to=[user["user_type_id"]])
    for _ in range(3):
        make_workflow(template=template, user=user)

    status, text = get(url + "/metrics")
    assert status == 200
    baseline = value(text, "wfapp_http_requests_total", endpoint="/healthz", method="GET", status="200")
    logged_before = len(request_pids(log_path, "/healthz"))
    assert baseline == logged_before  # the probes that waited for the start

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _round in range(10):  # until both workers have answered some
            statuses = list(pool.map(lambda _: get(url + "/healthz")[0], range(40)))
            assert statuses == [200] * 40
            sent += 40
            time.sleep(0.3)  # the log lines are written
            if len(set(request_pids(log_path, "/healthz"))) >= 2:
                break
    pids = request_pids(log_path, "/healthz")[logged_before:]
    assert len(pids) == sent
    assert len(set(pids)) == 2, "both workers answered"

    scraped = []
    for _ in range(4):  # whichever worker answers the scrape, it reports the sum over both
        status, text = get(url + "/metrics")
        assert status == 200
        scraped.append(text)
    for text in scraped:
        assert (
            value(text, "wfapp_http_requests_total", endpoint="/healthz", method="GET", status="200") == baseline + sent
        )
        assert (
            value(text, "wfapp_http_request_duration_seconds_count", endpoint="/healthz", method="GET")
            == baseline + sent
        )
        # read from the database once, not once per worker
        assert value(text, "wfapp_workflows", template=template["name"], status="active") == 3
        assert value(text, "wfapp_jobs", status="pending") == 0
        assert value(text, "wfapp_jobs", status="dead") == 0
        assert value(text, "wfapp_dispatcher_lag_seconds") == 0
        assert value(text, "wfapp_database_up") == 1
    # the scrapes themselves are counted too
    assert value(scraped[-1], "wfapp_http_requests_total", endpoint="/metrics") >= 3


def test_job_attempts_and_their_latency_are_counted(app, api, make_workflow):
    app.config.update(FAST)
    before_ok = (
        REGISTRY.get_sample_value("wfapp_job_attempts_total", {"kind": "end_action", "outcome": "succeeded"}) or 0
    )
    before_n = REGISTRY.get_sample_value("wfapp_job_attempt_duration_seconds_count", {"kind": "end_action"}) or 0
    with Receiver([200]) as rx:
        wf = make_workflow(end_action_type="api_call", end_action_target={"endpoint": rx.url + "/apply"})
        r = api.put(
            f"/api/workflows/{wf['id']}",
            {"state_data": {"amount": 5000, "purpose": "car"}, "status": "completed"},
            role="integration",
        )
        assert r.status_code == 200, r.json
        assert 'wfapp_jobs{status="pending"} 1.0' in api.client.get("/metrics").get_data(as_text=True)
        assert run_due_jobs(app) == 1
        rx.wait_for(1)
    assert (
        REGISTRY.get_sample_value("wfapp_job_attempts_total", {"kind": "end_action", "outcome": "succeeded"})
        == before_ok + 1
    )
    assert REGISTRY.get_sample_value("wfapp_job_attempt_duration_seconds_count", {"kind": "end_action"}) == before_n + 1


def test_metrics_are_closed_to_other_addresses_and_open_to_the_token(app, client):
    assert client.get("/metrics").status_code == 200  # loopback, the default METRICS_ALLOW
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    r = client.get("/metrics", environ_base=stranger)
    assert r.status_code == 403 and b"wfapp_" not in r.data
    # through a proxy that is not trusted (no ProxyFix): the loopback address proves nothing
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403

    app.config["METRICS_TOKEN"] = "scrape-token-0123456789"
    assert (
        client.get(
            "/metrics", environ_base=stranger, headers={"Authorization": "Bearer scrape-token-0123456789"}
        ).status_code
        == 200
    )
    assert client.get("/metrics", environ_base=stranger, headers={"Authorization": "Bearer nope"}).status_code == 403
    app.config["METRICS_ALLOW"] = ""  # token only
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"}).status_code == 200


def test_behind_a_trusted_proxy_the_client_address_decides(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SIGNING_SECRET": "test-signing-secret",
            "DISPATCHER_ENABLED": False,
            "PROXY_FIX_X_FOR": 1,
            "PROXY_FIX_X_PROTO": 1,
            "METRICS_ALLOW": "10.1.0.0/16",
            "METRICS_DB_TTL_S": 0,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'proxy.sqlite'}",
        }
    )

    @app.get("/_ops_test/scheme")
    def scheme():
        from flask import request

        return {"scheme": request.scheme, "remote_addr": request.remote_addr}

    try:
        with app.app_context():
            _db.create_all()
        client = app.test_client()
        assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
        assert client.get("/metrics").status_code == 403  # the proxy itself is not in the list
        r = client.get("/_ops_test/scheme", headers={"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https"})
        assert r.json == {"scheme": "https", "remote_addr": "10.1.2.3"}
    finally:
        with app.app_context():
            _db.engine.dispose()
