"""Logs: one JSON line per request and per job attempt, with the request id that the response
carries; no secret and no sensitive value ever reaches them."""

import json
import time

import pytest
import sqlalchemy as sa
from receivers import FAST, Receiver

from wfapp.extensions import db as _db
from wfapp.outbox.run import run_due_jobs

PASSPORT = "PZ7734901QX"  # a sensitive field's value
RECEIVER_KEY = "rk-live-4f9a8b7c6d5e"  # a ${secret:...} value

SENSITIVE_SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000},
    "purpose": {"type": "string", "required": True},
    "passport_number": {"type": "string", "sensitive": True},
}


def lines(captured: str, **match) -> list[dict]:
    out = []
    for raw in captured.splitlines():
        if not raw.startswith("{"):
            continue
        line = json.loads(raw)
        if all(line.get(k) == v for k, v in match.items()):
            out.append(line)
    return out


def test_one_json_line_per_request_with_the_request_id_of_the_response(client, capsys):
    r = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    r2 = client.get("/api/workflows")  # no id given: one is made up
    r3 = client.get("/no/such/page", headers={"X-Request-ID": 'bad id", "forged": "1'})
    r4 = client.get("/healthz", headers={"X-Request-ID": "a" * 200})
    err = capsys.readouterr().err
    assert r.headers["X-Request-ID"] == "lb-7f3a.42"
    generated = r2.headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    # a request id that could break or forge a log line is replaced, not copied
    assert len(r3.headers["X-Request-ID"]) == 32 and len(r4.headers["X-Request-ID"]) == 32

    (api_line,) = lines(err, request_id=generated)
    assert api_line["event"] == "request" and api_line["logger"] == "wfapp.request"
    assert (api_line["method"], api_line["path"], api_line["rule"], api_line["status"]) == (
        "GET",
        "/api/workflows",
        "/api/workflows",
        401,
    )
    assert isinstance(api_line["duration_ms"], float) and api_line["duration_ms"] >= 0
    assert api_line["level"] == "info" and api_line["ts"].endswith("Z") and api_line["pid"]
    (missing,) = lines(err, request_id=r3.headers["X-Request-ID"])
    assert missing["status"] == 404 and missing["rule"] is None
    assert "forged" not in err
    assert not lines(err, path="/healthz")  # probes are not logged by default (they are counted)


def test_request_lines_name_the_actor_and_the_workflow(api, make_workflow, capsys):
    wf = make_workflow()  # started with the integration's token
    capsys.readouterr()
    r = api.put(
        f"/api/workflows/{wf['id']}",
        {"state_data": {"amount": 5000}},
        role="integration",
        headers={"X-Request-ID": "chat-turn-1"},
    )
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "chat-turn-1"
    (line,) = lines(capsys.readouterr().err, request_id="chat-turn-1")
    assert line["actor"] == "token:test-integration"
    assert line["workflow_id"] == wf["id"]
    assert line["rule"] == "/api/workflows/<workflow_id>" and line["status"] == 200

    # a start names the workflow it created
    user_template = make_workflow()
    started = api.post(
        "/api/workflows",
        {
            "template_id": user_template["template_id"],
            "user_id": user_template["user_id"],
            "conversation_id": "conv-logs-2",
        },
        role="integration",
        headers={"X-Request-ID": "chat-turn-2"},
    )
    assert started.status_code == 201, started.json
    (line,) = lines(capsys.readouterr().err, request_id="chat-turn-2")
    assert line["workflow_id"] == started.json["id"] and line["status"] == 201


def test_lines_logged_while_serving_a_request_carry_its_id(app, client, capsys):
    @app.get("/_ops_test/boom")
    def boom():
        raise RuntimeError("kaboom")

    r = client.get("/_ops_test/boom", headers={"X-Request-ID": "req-boom"})
    assert r.status_code == 500
    found = lines(capsys.readouterr().err, request_id="req-boom")
    assert len(found) >= 2  # the error with its traceback, then the request line
    error_line = next(entry for entry in found if entry.get("exc"))
    assert "kaboom" in error_line["exc"] and error_line["level"] == "error"
    assert next(entry for entry in found if entry.get("event") == "request")["level"] == "error"


def test_no_secret_or_sensitive_value_reaches_the_logs(app, api, db, make_workflow, capsys, monkeypatch):
    app.config.update(FAST)
    monkeypatch.setenv("WFAPP_SECRET_RECEIVER_KEY", RECEIVER_KEY)
    token = api.token("integration")
    with Receiver([500, 200]) as rx:
        wf = make_workflow(
            state_schema=SENSITIVE_SCHEMA,
            end_action_type="api_call",
            end_action_target={
                "endpoint": rx.url + "/loans",
                "method": "POST",
                "headers": {"X-Api-Key": "${secret:RECEIVER_KEY}"},
            },
        )
        r = api.put(
            f"/api/workflows/{wf['id']}",
            {"state_data": {"amount": 5000, "purpose": "car", "passport_number": PASSPORT}},
            role="integration",
        )
        assert r.status_code == 200, r.json
        # a refused write with the value in it, a search by it, a completion that sends it out
        assert (
            api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": PASSPORT}}, role="integration").status_code
            == 422
        )
        assert api.get(f"/api/workflows?field=passport_number&value={PASSPORT}").status_code in (200, 422)
        assert api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}, role="integration").status_code == 200
        run_due_jobs(app)  # 500: a retry
        time.sleep(0.15)
        run_due_jobs(app)  # 200
        rx.wait_for(2)
    assert rx.requests[-1].headers["X-Api-Key"] == RECEIVER_KEY  # the receiver did get both
    assert PASSPORT in rx.requests[-1].body.decode()

    # an unexpected database error with the value among the statement's parameters
    with app.app_context():
        try:
            _db.session.execute(sa.text("INSERT INTO no_such_table (v) VALUES (:v)"), {"v": PASSPORT})
        except sa.exc.SQLAlchemyError:
            app.logger.exception("a failed statement")
        _db.session.rollback()

    err = capsys.readouterr().err
    attempts = lines(err, event="job_attempt")
    assert [(a["outcome"], a["status_code"], a["attempt"]) for a in attempts] == [
        ("retry", 500, 1),
        ("succeeded", 200, 2),
    ]
    assert all(a["workflow_id"] == wf["id"] and a["kind"] == "end_action" and a["duration_ms"] >= 0 for a in attempts)
    assert any("a failed statement" in entry["msg"] for entry in lines(err))
    for needle in (PASSPORT, RECEIVER_KEY, token, "test-secret", "test-signing-secret"):
        assert needle not in err, needle


def test_configured_secret_values_are_scrubbed_from_any_line(app, capsys, monkeypatch):
    monkeypatch.setenv("WFAPP_SECRET_BANK_TOKEN", "tok-abcdef-123456")
    with app.test_request_context("/"):
        app.logger.warning("someone logged %s and %s", "tok-abcdef-123456", app.config["SIGNING_SECRET"])
    err = capsys.readouterr().err
    assert "tok-abcdef-123456" not in err and "test-signing-secret" not in err
    assert "[secret] and [secret]" in err


@pytest.mark.parametrize("fmt", ["plain"])
def test_plain_format_for_development(tmp_path, fmt, capsys):
    from wfapp import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x" * 8,
            "SIGNING_SECRET": "y" * 8,
            "DISPATCHER_ENABLED": False,
            "LOG_FORMAT": fmt,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'plain.sqlite'}",
        }
    )
    try:
        app.test_client().get("/api/workflows", headers={"X-Request-ID": "dev-1"})
        err = capsys.readouterr().err
        line = next(ln for ln in err.splitlines() if "dev-1" in ln)
        assert not line.startswith("{")
        assert "wfapp.request GET /api/workflows 401" in line and "request_id=dev-1" in line
    finally:
        with app.app_context():
            _db.engine.dispose()


def test_dashboard_lines_name_the_staff_user_and_never_the_password(app, make_workflow, capsys):
    from pages_support import PASSWORD, Staff

    wf = make_workflow()
    operator = Staff(app, "operator")  # signs in through the login form
    r = operator.client.get(f"/workflows/{wf['id']}", headers={"X-Request-ID": "op-page-1"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "op-page-1"
    err = capsys.readouterr().err
    (line,) = lines(err, request_id="op-page-1")
    assert line["actor"] == "staff:operator1" and line["workflow_id"] == wf["id"]
    assert lines(err, path="/login", method="POST")  # the login is logged...
    assert PASSWORD not in err  # ...without its form
