"""Hostile strings never get past the parser: a NUL (\\u0000) or a lone surrogate (\\ud800) in a
request's JSON, values or keys at any depth, is refused with 400 naming the path; query arguments
with NUL or control characters are a 422; the dashboard forms refuse them with a message; a bad
`next` is ignored by the login page; and a database error never logs the values written. Runs on
SQLite and on PostgreSQL (WFAPP_TEST_DATABASE_URL)."""

import logging
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from pages_support import csrf_from, text
from test_pages_workflow_templates import builder_form

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, Job, Workflow, WorkflowEvent, WorkflowTemplate

SECRET = "4111-1111-1111-1111-SECRET"
HOSTILE = [
    ('{"state_data": {"purpose": "a\\u0000b"}}', "/state_data/purpose", "NUL"),
    ('{"state_data": {"purpose": "\\ud800"}}', "/state_data/purpose", "surrogate"),
    ('{"state_data": {"pu\\u0000rpose": "x"}}', "/state_data", "NUL"),
    ('{"state_data": {"tags": [{"deep": ["ok", "\\udfff"]}]}}', "/state_data/tags/0/deep/1", "surrogate"),
]


def _put_raw(api, wf_id, raw, role="integration"):
    return api.client.put(
        f"/api/workflows/{wf_id}",
        data=raw.replace("SECRET", SECRET),
        headers=api.headers(role, **{"Content-Type": "application/json"}),
    )


@pytest.mark.parametrize("raw,path,what", HOSTILE)
def test_api_refuses_nul_and_lone_surrogates_with_the_path(api, db, make_workflow, caplog, raw, path, what):
    wf = make_workflow()
    before = db.count(WorkflowEvent)
    caplog.set_level(logging.DEBUG)
    r = _put_raw(api, wf["id"], raw)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    assert r.json["errors"][0]["path"] == path and what in r.json["errors"][0]["message"]
    assert db.get(Workflow, uuid.UUID(wf["id"])).state_data == {} and db.count(WorkflowEvent) == before
    assert "\x00" not in caplog.text and "\\ud800" not in caplog.text


def test_every_json_body_is_checked_templates_and_users_too(api, db, make_user_type):
    ut = make_user_type()
    r = api.post("/api/users", {"id": "u1", "user_type_id": ut["id"], "display_name": "Ja\u0000ne"})
    assert r.status_code == 400 and r.json["errors"][0]["path"] == "/display_name"
    r = api.post(
        "/api/workflow-templates",
        {"name": "t1", "state_schema": {"a": {"type": "string", "description": "\ud800"}}},
    )
    assert r.status_code == 400 and r.json["errors"][0]["path"] == "/state_schema/a/description"
    assert db.count(WorkflowTemplate) == 0
    assert api.get("/api/users/u1").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "field=a'b&value=x",
        'field=a"b&value=x',
        "field=a%00b&value=x",
        "field=%E2%80%A2&value=x",
        "value=%00",
        "user_id=u%00",
        "conversation_id=c%0d%0a",
        "status=open%01",
        "na%00me=1",
    ],
)
def test_odd_query_arguments_are_a_422(api, make_workflow, query):
    make_workflow()
    r = api.get(f"/api/workflows?{query}", role="viewer")
    assert r.status_code == 422, (query, r.status_code)
    assert r.json["errors"] and r.json["errors"][0]["path"].startswith("/query")


def test_nul_in_a_path_names_nothing(api):
    assert api.get("/api/users/u%00x").status_code == 404
    assert api.get("/api/workflows/%00").status_code == 404
    assert api.get("/api/jobs?status=dead%00").status_code == 422


def test_dashboard_forms_refuse_nul_with_a_message(app, operator, admin, api, db, make_workflow):
    wf = make_workflow()
    page = text(operator.get(f"/workflows/{wf['id']}"))
    from test_pages_workflows import form_data

    r = operator.post(f"/workflows/{wf['id']}/state", form_data(page, amount="5000", purpose="Ro\x00of"), htmx=True)
    assert r.status_code == 422 and "NUL" in text(r) and "state-purpose" in text(r)
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(page, amount="5000", purpose="Ro\x00of"))
    assert r.status_code == 400 and "NUL" in text(r)
    assert db.get(Workflow, uuid.UUID(wf["id"])).state_data == {}
    # the template editor's raw JSON: the \u0000 escape is parsed, then refused beside the field
    data = builder_form(
        "raw_nul", schema_mode="raw", state_schema_json='{"a": {"type": "string", "title": "x\\u0000"}}'
    )
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and "/a/title" in text(r) and "NUL" in text(r)
    data["state_schema_json"] = '{"a": {"type": "string", "title": "\\ud800"}}'
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and "surrogate" in text(r)
    assert db.count(WorkflowTemplate, WorkflowTemplate.name == "raw_nul") == 0
    # login fields: a message, no failed-login entry holding the character
    client = app.test_client()
    csrf = csrf_from(text(client.get("/login")))
    r = client.post("/login", data={"username": "ad\x00min", "password": "x", "csrf_token": csrf})
    assert r.status_code == 400 and "NUL" in text(r)
    assert not [a for a in db.scalars(sa.select(AuditEntry)) if "\x00" in a.actor]


@pytest.mark.parametrize(
    "target", ["/workflows%0d%0aSet-Cookie:x=1", "/x%0aLocation:%20//evil", "https://evil.example/", "//evil", "%00"]
)
def test_login_ignores_a_bad_next(app, target):
    client = app.test_client()
    r = client.get(f"/login?next={target}")
    assert r.status_code == 200 and "evil" not in text(r) and "Set-Cookie:x" not in text(r)
    from pages_support import PASSWORD, make_staff

    make_staff(app, "nextuser", "viewer")
    csrf = csrf_from(text(r))
    r = client.post(f"/login?next={target}", data={"username": "nextuser", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 303
    location = r.headers["Location"]
    assert "\r" not in location and "\n" not in location and "evil" not in location


def test_a_database_error_logs_no_values(app, client, caplog):
    """The driver's message of a refused write (DETAIL/CONTEXT may quote state_data) stays out
    of the log: only the error's class and SQLSTATE are written."""
    bad = (
        '{"card": "SECRET", "x": "\\u0000"}'.replace("SECRET", SECRET)
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        else None
    )

    @app.get("/_test/db-error")
    def _db_error():
        if bad is not None:
            _db.session.execute(sa.text("SELECT CAST(:v AS jsonb) ->> 'x'"), {"v": bad})
        else:
            _db.session.execute(sa.text("INSERT INTO no_such_table VALUES (:v)"), {"v": SECRET})
        return "unreachable"

    caplog.set_level(logging.DEBUG)
    r = client.get("/_test/db-error")
    assert r.status_code == 500
    assert "SQLSTATE" in caplog.text and "database error" in caplog.text
    assert SECRET not in caplog.text and "no_such_table" not in caplog.text


def test_postgres_refused_write_leaves_no_value_in_the_log(api, db, make_workflow, caplog):
    wf = make_workflow()
    caplog.set_level(logging.DEBUG)
    r = _put_raw(api, wf["id"], '{"state_data": {"purpose": "SECRET\\u0000"}}')
    assert r.status_code == 400
    assert SECRET not in caplog.text
    assert db.count(Job) == 0 and db.get(Workflow, uuid.UUID(wf["id"])).state_data == {}


@pytest.mark.skipif(bool(PG_URL), reason="an SQLite trigger refuses the dispatcher's write")
def test_a_database_error_in_the_dispatcher_logs_no_values(app, api, make_workflow, caplog):
    """The dispatcher's own log of a failed round (outside any request) names the database
    error's class and SQLSTATE, never the driver's message, here one that quotes the job's
    payload (the workflow's state_data, as PostgreSQL's DETAIL would)."""
    from wfapp.outbox.run import Dispatcher

    wf = make_workflow(end_action_type="api_call", end_action_target={"endpoint": "http://127.0.0.1:9/end"})
    state = {"state_data": {"amount": 5000, "purpose": SECRET}, "status": "completed"}
    r = api.put(f"/api/workflows/{wf['id']}", state, role="integration")
    assert r.status_code == 200 and r.json["status"] == "completed", r.json
    with app.app_context():
        _db.session.execute(
            # SQLite's message for a bad JSON path quotes it: here the job's payload
            sa.text(
                "CREATE TRIGGER refuse_claim BEFORE UPDATE ON jobs"
                " BEGIN SELECT json_extract('{}', 'refused ' || NEW.payload); END"
            )
        )
        _db.session.commit()
    caplog.set_level(logging.DEBUG)
    stop = threading.Event()
    dispatcher = Dispatcher(app, stop)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 10
        while "the dispatcher failed" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    finally:
        stop.set()
        dispatcher.join(10)
        with app.app_context():
            _db.session.execute(sa.text("DROP TRIGGER refuse_claim"))
            _db.session.commit()
    assert "database error sqlite3.OperationalError (SQLSTATE" in caplog.text
    assert SECRET not in caplog.text and "Traceback" not in caplog.text
