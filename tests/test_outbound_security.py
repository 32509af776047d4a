"""Outbound safety: SSRF refusals without a connection, the allowlist, redirects, the response
cap, and secrets that reach the receiver but never the API, the events or the logs."""

import ipaddress
import json
import logging
import socket

import pytest
import sqlalchemy as sa
from receivers import FAST, Answer, Receiver, drain

from wfapp.models import Job, JobStatus
from wfapp.outbox.http import Allowlist
from wfapp.outbox.run import run_due_jobs

STATE = {"amount": 50000, "purpose": "Home improvement"}
BANK_KEY = "bk_live_5up3r-s3cr3t-v4lue"


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def complete_with(api, make_workflow, target):
    wf = make_workflow(end_action_type="api_call", end_action_target=target)
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"})
    assert r.status_code == 200, r.json
    return wf


def name_resolving_to_loopback() -> str:
    """A host name other than localhost that resolves to 127.0.0.1 here (the machine's own name
    usually does), else the decimal spelling of 127.0.0.1, which the resolver also accepts."""
    for name in (socket.gethostname(), "2130706433"):
        try:
            if socket.gethostbyname(name) == "127.0.0.1" and name != "localhost":
                return name
        except OSError:
            continue
    pytest.skip("no name resolves to 127.0.0.1 here")


def test_ssrf_targets_are_refused_without_a_connection_and_become_incidents(api, app, db, make_workflow):
    app.config["OUTBOUND_ALLOW"] = ""  # nothing non-global is allowed
    with Receiver([200]) as rx:
        name = name_resolving_to_loopback()
        targets = {
            "http://169.254.169.254/latest/meta-data/": "link-local",
            "http://10.0.0.1/apply": "private",
            f"http://localhost:{rx.port}/apply": "loopback",
            f"http://{name}:{rx.port}/apply": "loopback",
            f"http://[::1]:{rx.port}/apply": "loopback",
            "http://100.64.0.1/apply": "carrier-grade NAT",
        }
        workflows = {url: complete_with(api, make_workflow, {"endpoint": url, "timeout_s": 1}) for url in targets}
        run_due_jobs(app)
        assert rx.requests == []  # the receiver saw nothing
        incidents = {i["endpoint"]: i for i in api.get("/api/jobs?status=dead").json["items"]}
        assert set(incidents) == set(targets)
        for url, reason in targets.items():
            incident = incidents[url]
            assert incident["attempts"] == 1, url
            assert "refused" in incident["last_error"] and reason in incident["last_error"], incident["last_error"]
            assert "WFAPP_OUTBOUND_ALLOW" in incident["last_error"]
            events = api.get(f"/api/workflows/{workflows[url]['id']}/events").json["items"]
            attempt = events[-1]["data"]
            assert attempt["outcome"] == "dead" and attempt["status_code"] is None and reason in attempt["error"]

        # the control: once 127.0.0.1 is allowed, the same receiver is reachable
        app.config["OUTBOUND_ALLOW"] = "127.0.0.1"
        complete_with(api, make_workflow, {"endpoint": rx.url + "/apply"})
        run_due_jobs(app)
        assert len(rx.requests) == 1


def test_the_allowlist_admits_exact_hosts_and_cidrs_only(api, app, db, make_workflow):
    with Receiver([200]) as rx:
        app.config["OUTBOUND_ALLOW"] = "10.0.0.0/8, 127.0.0.2"
        complete_with(api, make_workflow, {"endpoint": rx.url})
        run_due_jobs(app)
        assert rx.requests == []
        app.config["OUTBOUND_ALLOW"] = "localhost"  # a host name entry admits that name only
        complete_with(api, make_workflow, {"endpoint": f"http://localhost:{rx.port}/x"})
        complete_with(api, make_workflow, {"endpoint": f"http://127.0.0.1:{rx.port}/y"})
        run_due_jobs(app)
        assert [r.path for r in rx.requests] == ["/x"]
        app.config["OUTBOUND_ALLOW"] = "127.0.0.0/30"
        complete_with(api, make_workflow, {"endpoint": f"http://127.0.0.1:{rx.port}/z"})
        run_due_jobs(app)
        assert [r.path for r in rx.requests] == ["/x", "/z"]

    allow = Allowlist.parse("api.bank.example, 10.1.0.0/16 ::1")
    assert allow.admits("API.bank.example.", ipaddress.ip_address("10.9.9.9"))
    assert allow.admits("x", ipaddress.ip_address("10.1.2.3"))
    assert allow.admits("x", ipaddress.ip_address("::1"))
    assert not allow.admits("x", ipaddress.ip_address("10.2.0.1"))
    assert not allow.admits("x", ipaddress.ip_address("127.0.0.1"))


def test_redirects_are_not_followed(api, app, db, make_workflow):
    with Receiver([Answer(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})]) as rx:
        wf = complete_with(api, make_workflow, {"endpoint": rx.url})
        run_due_jobs(app)
    assert len(rx.requests) == 1
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.DEAD and "redirect" in job.last_error and "not followed" in job.last_error
    assert wf["id"] == str(job.workflow_id)


def test_the_answer_read_is_capped(api, app, db, make_workflow):
    app.config["OUTBOUND_MAX_RESPONSE_BYTES"] = 4096
    with Receiver([Answer(200, body=b"x" * 5_000_000)]) as rx:
        wf = complete_with(api, make_workflow, {"endpoint": rx.url})
        run_due_jobs(app)
    assert db.scalars(sa.select(Job))[0].status == JobStatus.SUCCEEDED
    attempt = api.get(f"/api/workflows/{wf['id']}/events").json["items"][-1]["data"]
    assert attempt["status_code"] == 200 and len(attempt["excerpt"]) <= 500


def test_a_secret_header_arrives_and_is_never_shown(api, app, db, make_workflow, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("WFAPP_SECRET_BANK_KEY", BANK_KEY)
    # a careless receiver that echoes what it got
    with Receiver(
        lambda req: Answer(500 if len(rx.requests) == 1 else 200, body={"echo": req.headers.get("X-Api-Key")})
    ) as rx:
        target = {
            "endpoint": rx.url + "/apply",
            "headers": {"X-Api-Key": "${secret:BANK_KEY}", "Authorization": "Bearer ${secret:BANK_KEY}"},
        }
        wf = complete_with(api, make_workflow, target)
        drain(app, db)
    assert len(rx.requests) == 2
    assert rx.requests[0].headers["X-Api-Key"] == BANK_KEY
    assert rx.requests[0].headers["Authorization"] == f"Bearer {BANK_KEY}"
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.SUCCEEDED
    assert job.payload["target"]["headers"]["X-Api-Key"] == "${secret:BANK_KEY}"  # stored as a reference

    seen = [
        api.get(f"/api/workflows/{wf['id']}"),
        api.get(f"/api/workflows/{wf['id']}/events"),
        api.get(f"/api/workflows/{wf['id']}/jobs"),
        api.get("/api/jobs"),
        api.get(f"/api/workflow-templates/{wf['template_id']}"),
        api.get("/api/workflow-templates"),
    ]
    for r in seen:
        assert r.status_code == 200
        assert BANK_KEY not in r.get_data(as_text=True)
    events = api.get(f"/api/workflows/{wf['id']}/events").json["items"]
    attempts = [e["data"] for e in events if e["type"] == "end_action_attempt"]
    assert "[secret]" in attempts[0]["excerpt"]  # the echo is masked
    assert attempts[0]["request"]["secrets"] == ["BANK_KEY"]
    assert BANK_KEY not in caplog.text
    with app.app_context():
        from wfapp.extensions import db as _db
        from wfapp.models import WorkflowEvent

        stored = json.dumps([e.data for e in _db.session.scalars(sa.select(WorkflowEvent))])
        assert BANK_KEY not in stored


def test_a_missing_secret_is_an_incident_that_names_the_variable(api, app, db, make_workflow, monkeypatch):
    monkeypatch.delenv("WFAPP_SECRET_NOT_SET", raising=False)
    with Receiver([200]) as rx:
        wf = complete_with(api, make_workflow, {"endpoint": rx.url, "headers": {"X-Key": "${secret:NOT_SET}"}})
        run_due_jobs(app)
        assert rx.requests == []
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.DEAD and "WFAPP_SECRET_NOT_SET" in job.last_error
        monkeypatch.setenv("WFAPP_SECRET_NOT_SET", "now-set")
        assert api.post(f"/api/workflows/{wf['id']}/end-action/retry").status_code == 202
        run_due_jobs(app)
    assert rx.requests[0].headers["X-Key"] == "now-set"
