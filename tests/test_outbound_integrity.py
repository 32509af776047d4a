"""Outbound integrity, against real HTTP servers on 127.0.0.1: placeholders are data (never the
host, never a second path segment or query parameter, never a header line), every call ends by
its deadline whatever the receiver does, every IPv6 spelling of a private address is refused, and
the database and its backups are private files."""

import ipaddress
import os
import stat
import threading
import time
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from receivers import FAST, Answer, Receiver, drain

from wfapp.models import Job, JobStatus, Workflow, WorkflowStatus
from wfapp.outbox.http import Allowlist, make_session, refusal, send
from wfapp.outbox.run import Dispatcher, run_due_jobs

SCHEMA = {
    "uid": {"type": "string"},
    "q": {"type": "string"},
    "full_name": {"type": "string"},
    "amount": {"type": "number"},
}
NASTY = "../admin?role=root&x=1#frag %41 /é"


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def dep(endpoint, headers=None, **kw):
    return {"name": "lookup", "api": {"endpoint": endpoint, "headers": headers or {}, "timeout_s": 2, **kw}}


def template_body(**kw):
    return {"name": f"wt_{uuid.uuid4().hex[:8]}", "state_schema": SCHEMA, **kw}


def start(api, make_workflow_template, make_end_user, deps, state):
    user = make_end_user()
    t = make_workflow_template(grant_to=[user["user_type_id"]], state_schema=SCHEMA, workflow_dependencies=deps)
    r = api.post(
        "/api/workflows",
        {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c1", "state_data": state},
        role="integration",
    )
    assert r.status_code == 201, r.json
    return r.json


# --- 1. placeholders are data, never structure ----------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://{{state.uid}}/check",
        "http://api.example:{{state.amount}}/check",
        "http://{{state.uid}}@api.example/check",
        "http://user:{{ state.q }}@api.example/check",
        "http://api.{{workflow.id}}.example/check",
        "http://api.example{{state.uid}}/check",
    ],
)
def test_a_placeholder_in_scheme_host_port_or_userinfo_is_refused_when_saved(api, db, endpoint):
    r = api.post("/api/workflow-templates", template_body(workflow_dependencies=[dep(endpoint)]))
    assert r.status_code == 422, r.json
    [error] = [e for e in r.json["errors"] if e["path"] == "/workflow_dependencies/0/api/endpoint"]
    assert "dependency lookup" in error["message"] and "host" in error["message"]
    r = api.post(
        "/api/workflow-templates",
        template_body(end_action_type="api_call", end_action_target={"endpoint": endpoint}),
    )
    assert r.status_code == 422, r.json
    assert [e["path"] for e in r.json["errors"]] == ["/end_action_target/endpoint"]
    assert "end action" in r.json["errors"][0]["message"]
    assert db.count(Workflow) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "internal.example"},
        {"content-length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"CONNECTION": "close"},
        {"X-Ref": "a\r\nX-Injected: 1"},
        {"X-Ref": "a\nb"},
        {"X-Ref\r\nX-Injected": "1"},
        {"X-Ref": "a\u0000b"},
        {"X Ref": "a"},
    ],
)
def test_ambiguous_or_broken_headers_are_refused_when_saved(api, headers):
    r = api.post(
        "/api/workflow-templates", template_body(workflow_dependencies=[dep("https://api.example/x", headers)])
    )
    assert r.status_code == 422, r.json
    [error] = r.json["errors"]
    assert error["path"].startswith("/workflow_dependencies/0/api/headers/")
    assert "dependency lookup" in error["message"]
    r = api.post(
        "/api/workflow-templates",
        template_body(
            end_action_type="api_call", end_action_target={"endpoint": "https://a.example", "headers": headers}
        ),
    )
    assert r.status_code == 422, r.json
    assert r.json["errors"][0]["path"].startswith("/end_action_target/headers/")
    assert api.get("/api/workflow-templates").json["items"] == []


def test_values_in_the_path_and_query_cannot_change_where_the_call_goes(
    api, app, db, make_workflow_template, make_end_user
):
    q = "a&b=c#d ?%25/../"
    with Receiver([200]) as rx:
        endpoint = rx.url + "/users/{{state.uid}}/docs?q={{state.q}}&n=1&id=u-{{workflow.id}}"
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [dep(endpoint, {"X-Ref": "ref {{state.q}}", "X-Name": "{{state.full_name}}"})],
            {"uid": NASTY, "q": q, "full_name": "${secret:BANK_KEY}"},
        )
        drain(app, db)
    [req] = rx.requests
    parts = urlsplit(req.path)
    segments = parts.path.split("/")
    assert segments[:2] == ["", "users"] and segments[3:] == ["docs"] and len(segments) == 4
    assert unquote(segments[2]) == NASTY
    assert parse_qs(parts.query) == {"q": [q], "n": ["1"], "id": [f"u-{wf['id']}"]}
    assert parts.fragment == ""
    # in a header a value is text, and never becomes a secret reference
    assert req.headers["X-Ref"] == f"ref {q}"
    assert req.headers["X-Name"] == "$%7Bsecret:BANK_KEY}"


def test_a_line_break_in_a_rendered_header_or_a_secret_is_refused_when_sent(
    api, app, db, make_workflow_template, make_end_user, make_workflow, monkeypatch
):
    with Receiver([200]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [dep(rx.url + "/kyc", {"X-Name": "{{state.full_name}}"})],
            {"full_name": "John\r\nX-Injected: 1"},
        )
        run_due_jobs(app)
        assert rx.requests == []  # nothing went out
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.DEAD and job.attempts == 1
        assert "X-Name" in job.last_error and "control character" in job.last_error
        assert "John" not in job.last_error
        assert db.get(Workflow, uuid.UUID(wf["id"])).status == WorkflowStatus.FAILED

        monkeypatch.setenv("WFAPP_SECRET_BROKEN", "abc\ndef")
        wf2 = make_workflow(
            end_action_type="api_call",
            end_action_target={"endpoint": rx.url, "headers": {"Authorization": "Bearer ${secret:BROKEN}"}},
        )
        r = api.put(
            f"/api/workflows/{wf2['id']}", {"state_data": {"amount": 1000, "purpose": "x"}, "status": "completed"}
        )
        assert r.status_code == 200, r.json
        run_due_jobs(app)
        assert rx.requests == []
        job2 = db.scalar(sa.select(Job).where(Job.workflow_id == uuid.UUID(wf2["id"])))
        assert job2.status == JobStatus.DEAD and "Authorization" in job2.last_error and "def" not in job2.last_error


@pytest.mark.parametrize("value", ["..", "."])
def test_a_value_that_is_a_dot_segment_is_refused_when_sent(api, app, db, make_workflow_template, make_end_user, value):
    with Receiver([200]) as rx:
        start(api, make_workflow_template, make_end_user, [dep(rx.url + "/users/{{state.uid}}/x")], {"uid": value})
        run_due_jobs(app)
    assert rx.requests == []
    assert "'.' or '..' segment" in db.scalars(sa.select(Job))[0].last_error


# --- 2. every call ends by its deadline -------------------------------------------------------


def test_a_dripping_receiver_times_out_while_another_end_action_is_delivered(api, app, db, make_workflow):
    app.config.update(JOB_MAX_ATTEMPTS=1, DISPATCHER_POLL_S=0.05)
    state = {"state_data": {"amount": 1000, "purpose": "x"}, "status": "completed"}
    with Receiver([Answer(200, body=b"x" * 100, drip_s=0.3)]) as slow, Receiver([200]) as quick:
        slow_wf = make_workflow(end_action_type="api_call", end_action_target={"endpoint": slow.url, "timeout_s": 1})
        assert api.put(f"/api/workflows/{slow_wf['id']}", state).status_code == 200
        stop = threading.Event()
        threads = [Dispatcher(app, stop, name=f"test-dispatcher-{i}") for i in range(2)]
        for t in threads:
            t.start()
        try:
            slow.wait_for(1)  # the slow call is dripping now
            quick_wf = make_workflow(end_action_type="api_call", end_action_target={"endpoint": quick.url})
            assert api.put(f"/api/workflows/{quick_wf['id']}", state).status_code == 200
            quick.wait_for(1, timeout=5)
            deadline = time.monotonic() + 10
            while db.count(Job, Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING])) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    jobs = {str(j.workflow_id): j for j in db.scalars(sa.select(Job))}
    assert jobs[quick_wf["id"]].status == JobStatus.SUCCEEDED
    assert jobs[slow_wf["id"]].status == JobStatus.DEAD and "timed out" in jobs[slow_wf["id"]].last_error
    [attempt] = [
        e["data"]
        for e in api.get(f"/api/workflows/{slow_wf['id']}/events").json["items"]
        if e["type"] == "end_action_attempt"
    ]
    assert attempt["status_code"] is None and "timed out" in attempt["error"]
    assert 900 <= attempt["duration_ms"] < 2000  # within twice timeout_s, not 100 s of dripping


def test_a_call_never_outlives_its_lease():
    session = make_session("127.0.0.1", 5, 30)
    with Receiver([Answer(200, body=b"x" * 100, drip_s=0.5)]) as rx:
        started = time.monotonic()
        result = send(session, "POST", rx.url, headers={}, raw=b"{}", timeout=(5, 30), max_bytes=1000, lease_s=1.5)
        took = time.monotonic() - started
    assert not result.ok and result.retryable and "timed out" in result.error
    assert took < 1.5  # the lease (less its margin) cut the 30 s timeout short
    result = send(session, "POST", rx.url, headers={}, raw=b"{}", timeout=(5, 30), max_bytes=1000, lease_s=0)
    assert not result.ok and "lease" in result.error and len(rx.requests) == 1
    session.close()


# --- 3. every IPv6 spelling of a private address ----------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::127.0.0.1",
    "::ffff:0:7f00:1",
    "2002:7f00:0001::",
    "2002:7f00:1:ffff::1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::7f00:1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_every_spelling_of_a_loopback_address_is_refused_unless_allowed(spelling):
    ip = ipaddress.ip_address(spelling)
    reason = refusal("h.example", ip, Allowlist())
    assert reason.startswith("refused") and "127.0.0.1" in reason and "loopback" in reason, reason
    assert "WFAPP_OUTBOUND_ALLOW" in reason
    assert refusal("h.example", ip, Allowlist.parse("127.0.0.1")) == ""
    assert refusal("h.example", ip, Allowlist.parse("10.0.0.0/8")) != ""


@pytest.mark.parametrize(
    "spelling, word",
    [
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:a9fe:a9fe", "link-local"),  # 169.254.169.254
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:c0a8:0101::", "private"),  # 192.168.1.1
        ("::ffff:100.64.0.1", "carrier-grade NAT"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
    ],
)
def test_private_addresses_in_any_spelling_are_refused(spelling, word):
    assert word in refusal("h", ipaddress.ip_address(spelling), Allowlist())


@pytest.mark.parametrize("spelling", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(spelling):
    assert refusal("h", ipaddress.ip_address(spelling), Allowlist()) == ""


def test_ipv6_spellings_of_loopback_are_refused_through_the_dispatcher(api, app, db, make_workflow):
    app.config["OUTBOUND_ALLOW"] = ""
    with Receiver([200]) as rx:
        urls = [f"http://[{s}]:{rx.port}/x" for s in ("::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1")]
        for url in urls:
            wf = make_workflow(end_action_type="api_call", end_action_target={"endpoint": url, "timeout_s": 1})
            r = api.put(
                f"/api/workflows/{wf['id']}", {"state_data": {"amount": 1000, "purpose": "x"}, "status": "completed"}
            )
            assert r.status_code == 200
        run_due_jobs(app)
        assert rx.requests == []
    incidents = {i["endpoint"]: i["last_error"] for i in api.get("/api/jobs?status=dead").json["items"]}
    assert set(incidents) == set(urls)
    for error in incidents.values():
        assert "refused" in error and "127.0.0.1" in error and "loopback" in error, error


# --- 4. private files -------------------------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(bool(PG_URL), reason="the SQLite files")
def test_the_database_its_wal_and_shm_and_backups_are_private(app, api, make_workflow, tmp_path):
    old = os.umask(0o022)  # a usual umask: files would be world-readable by default
    try:
        make_workflow()  # writes: the -wal and -shm files exist
        live = tmp_path / "test.sqlite"
        for path in (live, f"{live}-wal", f"{live}-shm"):
            assert os.path.exists(path) and mode(path) == 0o600, (path, oct(mode(path)))
        dest = tmp_path / "backup.sqlite"
        result = app.test_cli_runner().invoke(args=["backup", str(dest)])
        assert result.exit_code == 0, result.output
        assert mode(dest) == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("backup.sqlite") and p != dest]
    finally:
        os.umask(old)
