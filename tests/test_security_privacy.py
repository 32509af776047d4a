"""Sensitive fields: masked for viewers (API tokens and the shared masking service), shown to
operators, admins and the integration; erasure of an end user's personal data that keeps
workflows and event skeletons (counts and analytics still add up) and is a no-op the second
time."""

import json

import sqlalchemy as sa
from pages_support import Staff, text

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, EndUser, Workflow, WorkflowEvent, WorkflowTemplate
from wfapp.schemas.state_schema import build_compiled, compile_state_schema
from wfapp.services import privacy
from wfapp.services.analytics import template_analytics

KYC_SCHEMA = {
    "full_name": {"type": "string", "required": True, "sensitive": True},
    "iban": {"type": "string", "sensitive": True},
    "amount": {"type": "number", "required": True},
}
SECRET_NAME, SECRET_IBAN = "Jane Q. Public", "DE89370400440532013000"


def _kyc_workflow(api, make_workflow, **kw):
    wf = make_workflow(state_schema=KYC_SCHEMA, **kw)
    r = api.put(
        f"/api/workflows/{wf['id']}",
        {"state_data": {"full_name": SECRET_NAME, "iban": SECRET_IBAN, "amount": 5000}},
        role="integration",
    )
    assert r.status_code == 200
    return r.json


def test_mask_state_and_diff_per_role():
    compiled = build_compiled(compile_state_schema(KYC_SCHEMA))
    state = {"full_name": SECRET_NAME, "iban": None, "amount": 5}
    assert privacy.mask_state(state, compiled, "viewer") == {"full_name": privacy.MASK, "iban": None, "amount": 5}
    for role in ("operator", "admin", "integration"):
        assert privacy.mask_state(state, compiled, role) == state
    diff = {"set": {"full_name": SECRET_NAME, "amount": 5}, "before": {"full_name": "old"}, "removed": ["iban"]}
    masked = privacy.mask_diff(diff, compiled, "viewer")
    assert masked == {
        "set": {"full_name": privacy.MASK, "amount": 5},
        "before": {"full_name": privacy.MASK},
        "removed": ["iban"],
    }
    assert diff["set"]["full_name"] == SECRET_NAME  # the input is not changed
    assert privacy.mask_state(state, compiled, "") == privacy.mask_state(state, compiled, "viewer")
    assert privacy.sensitive_present(state, compiled) == ["full_name"]


def test_api_masks_sensitive_values_for_viewer_tokens(api, make_workflow):
    wf = _kyc_workflow(api, make_workflow)
    for path in (
        f"/api/workflows/{wf['id']}",
        "/api/workflows",
        f"/api/workflows/{wf['id']}/events",
        f"/api/workflows/{wf['id']}/context",
    ):
        seen = api.get(path, role="viewer")
        assert seen.status_code == 200
        body = json.dumps(seen.json, ensure_ascii=False)
        assert SECRET_NAME not in body and SECRET_IBAN not in body, path
        assert privacy.MASK in body, path
        for role in ("operator", "admin", "integration"):
            assert SECRET_IBAN in text(api.get(path, role=role)), (path, role)
    viewer_state = api.get(f"/api/workflows/{wf['id']}", role="viewer").json["state_data"]
    assert viewer_state == {"full_name": privacy.MASK, "iban": privacy.MASK, "amount": 5000}


def test_reveal_is_audited_by_name_never_by_value(app, db):
    with app.app_context():
        privacy.record_reveal(_db.session, "staff:op", "wf-1", ["iban", "full_name"], "10.1.1.1", where="detail")
        _db.session.commit()
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == privacy.REVEAL_ACTION))
    assert entry.changes == {"fields": ["full_name", "iban"], "where": "detail"}
    assert entry.actor == "staff:op" and entry.target_id == "wf-1" and entry.remote_addr == "10.1.1.1"


def test_dashboard_masks_for_viewers_and_shows_operators(app, api, make_workflow):
    wf = _kyc_workflow(api, make_workflow)
    viewer, operator = Staff(app, "viewer"), Staff(app, "operator")
    page = text(viewer.get(f"/workflows/{wf['id']}"))
    assert SECRET_IBAN not in page and SECRET_NAME not in page
    assert SECRET_IBAN in text(operator.get(f"/workflows/{wf['id']}"))


def test_sensitive_values_are_left_out_of_template_exports(app, api, make_workflow):
    wf = _kyc_workflow(api, make_workflow)
    admin = Staff(app, "admin")
    exported = text(admin.get(f"/workflow-templates/{wf['template_name']}/export"))
    assert "full_name" in exported and SECRET_NAME not in exported and SECRET_IBAN not in exported


def test_erasure_keeps_skeletons_and_is_idempotent(app, api, make_workflow, make_end_user, db):
    user = make_end_user(display_name="Jane")
    first = _kyc_workflow(api, make_workflow, user=user)
    template = api.get(f"/api/workflow-templates/{first['template_id']}").json
    second = make_workflow(template=template, user=user)
    api.put(
        f"/api/workflows/{second['id']}", {"state_data": {"full_name": SECRET_NAME, "amount": 2000}}, role="integration"
    )
    done = api.put(f"/api/workflows/{first['id']}", {"status": "completed"}, role="integration")
    assert done.status_code == 200
    other = _kyc_workflow(api, make_workflow, template=template)  # another end user: untouched

    def analytics():
        with app.app_context():
            t = _db.session.get(WorkflowTemplate, __import__("uuid").UUID(first["template_id"]))
            a = template_analytics(_db.session, t)
            return {
                "total": a.total,
                "statuses": a.statuses,
                "completed": a.completed,
                "by_integration": {f.key: f.by_integration for f in a.fields},
                "started": a.funnel[0][1],
            }

    before_events = [
        (e.workflow_id, e.seq, e.type, e.actor) for e in db.scalars(sa.select(WorkflowEvent).order_by(WorkflowEvent.id))
    ]
    before_analytics = analytics()
    r = api.delete(f"/api/users/{user['id']}")
    assert r.status_code == 200
    assert r.json["erased"] is True and r.json["workflows"] == 2 and r.json["workflows_erased"] == 2
    assert r.json["events_scrubbed"] >= 2

    for wid in (first["id"], second["id"]):
        got = api.get(f"/api/workflows/{wid}").json
        assert got["state_data"] == {}
        events = text(api.get(f"/api/workflows/{wid}/events"))
        assert SECRET_NAME not in events and SECRET_IBAN not in events
    assert api.get(f"/api/workflows/{first['id']}").json["status"] == "completed"
    # the skeleton stays: the same events in the same order, with which fields changed
    after_events = [
        (e.workflow_id, e.seq, e.type, e.actor) for e in db.scalars(sa.select(WorkflowEvent).order_by(WorkflowEvent.id))
    ]
    assert after_events == before_events
    updated = [
        e
        for e in db.scalars(sa.select(WorkflowEvent).where(WorkflowEvent.type == "state_updated"))
        if str(e.workflow_id) == first["id"]
    ][0]
    assert set(updated.data["diff"]["set"]) == {"full_name", "iban", "amount"} and updated.data["erased"] is True
    assert db.get(EndUser, user["id"]).display_name == ""
    assert api.get(f"/api/workflows/{other['id']}").json["state_data"]["iban"] == SECRET_IBAN
    # counts and analytics still add up
    after_analytics = analytics()
    for key in ("total", "statuses", "completed", "by_integration", "started"):
        assert after_analytics[key] == before_analytics[key], key
    assert db.count(Workflow) == 3
    assert db.count(AuditEntry, AuditEntry.action == privacy.ERASE_ACTION) == 1

    # the second call changes nothing
    snapshot = [(e.id, e.data) for e in db.scalars(sa.select(WorkflowEvent).order_by(WorkflowEvent.id))]
    again = api.delete(f"/api/users/{user['id']}")
    assert again.status_code == 200 and again.json["erased"] is False
    assert again.json["workflows_erased"] == again.json["events_scrubbed"] == 0
    assert [(e.id, e.data) for e in db.scalars(sa.select(WorkflowEvent).order_by(WorkflowEvent.id))] == snapshot
    assert db.count(AuditEntry, AuditEntry.action == privacy.ERASE_ACTION) == 1


def test_erasure_roles_and_unknown_user(api, make_end_user):
    user = make_end_user()
    for role in ("viewer", "operator", "integration"):
        assert api.delete(f"/api/users/{user['id']}", role=role).status_code == 403
    r = api.delete("/api/users/no-such-user")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_admin_page_erases_too(app, api, make_workflow, make_end_user):
    user = make_end_user()
    wf = _kyc_workflow(api, make_workflow, user=user)
    admin = Staff(app, "admin")
    r = admin.post("/admin/privacy/erase", {"user_id": user["id"]})
    assert r.status_code == 200 and "Erased the data of" in text(r)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {}
    r = admin.post("/admin/privacy/erase", {"user_id": user["id"]})
    assert "Nothing left to erase" in text(r)
    assert admin.post("/admin/privacy/erase", {"user_id": "nobody"}).status_code == 404
    assert Staff(app, "operator").post("/admin/privacy/erase", {"user_id": user["id"]}).status_code == 403


def test_viewers_may_not_search_by_sensitive_fields(api, make_workflow):
    wf = _kyc_workflow(api, make_workflow)
    r = api.get("/api/workflows?field=iban&value=DE89&match=contains", role="viewer")
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    assert api.get("/api/workflows?field=amount&value=5000", role="viewer").status_code == 200
    found = api.get("/api/workflows?field=iban&value=DE89&match=contains", role="operator").json["items"]
    assert [w["id"] for w in found] == [wf["id"]]


def test_sensitive_values_never_reach_the_logs(app, api, make_workflow, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    wf = _kyc_workflow(api, make_workflow)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"iban": 12345678901}}, role="integration")  # refused
    api.get(f"/api/workflows?field=iban&value={SECRET_IBAN}", role="admin")
    api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}, role="integration")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the requests were logged
    assert SECRET_IBAN not in logged and SECRET_NAME not in logged and "12345678901" not in logged


def test_state_for_staff_masks_viewers_and_audits_operator_reveals(app, db):
    compiled = build_compiled(compile_state_schema(KYC_SCHEMA))
    state = {"full_name": SECRET_NAME, "amount": 5}
    with app.app_context():
        shown = privacy.state_for_staff(_db.session, state, compiled, "viewer", "staff:v", "wf-9", "10.0.0.5")
        assert shown == {"full_name": privacy.MASK, "amount": 5}
        shown = privacy.state_for_staff(
            _db.session, state, compiled, "operator", "staff:o", "wf-9", "10.0.0.5", where="workflow detail"
        )
        assert shown == state
        privacy.state_for_staff(
            _db.session, {"amount": 5}, compiled, "operator", "staff:o", "wf-9"
        )  # nothing to reveal
        _db.session.commit()
    entries = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == privacy.REVEAL_ACTION))
    assert [(e.actor, e.target_id, e.changes) for e in entries] == [
        ("staff:o", "wf-9", {"fields": ["full_name"], "where": "workflow detail"})
    ]


def test_answers_of_outside_services_are_masked_for_viewers_and_erased(app, api, make_workflow, db):
    """A dependency's stored result and the excerpt of an answer may hold personal data."""
    import uuid

    from wfapp.services.events import record_event

    wf = _kyc_workflow(api, make_workflow)
    with app.app_context():
        row = _db.session.get(Workflow, uuid.UUID(wf["id"]))
        row.pending_dependencies = {"kyc": {"state": "succeeded", "result": {"name_match": SECRET_NAME}}}
        record_event(
            _db.session,
            row,
            "dependency_attempt",
            "dispatcher",
            {"status_code": 200, "excerpt": f'{{"holder": "{SECRET_NAME}"}}'},
        )
        _db.session.commit()
    for path in (f"/api/workflows/{wf['id']}", f"/api/workflows/{wf['id']}/events"):
        assert SECRET_NAME not in json.dumps(api.get(path, role="viewer").json, ensure_ascii=False), path
        assert SECRET_NAME in json.dumps(api.get(path, role="operator").json, ensure_ascii=False), path
    api.delete(f"/api/users/{wf['user_id']}")
    for path in (f"/api/workflows/{wf['id']}", f"/api/workflows/{wf['id']}/events"):
        assert SECRET_NAME not in json.dumps(api.get(path).json, ensure_ascii=False), path
