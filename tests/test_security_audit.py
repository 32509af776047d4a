"""The staff audit log: every staff action (dashboard and staff API tokens) and every failed
login, with who, when, from where and what changed; admins read and filter it on a page."""

import sqlalchemy as sa
from pages_support import Staff, csrf_from, make_staff, text
from test_pages_workflows import SCHEMA, form_data

from wfapp.models import AuditEntry
from wfapp.services.privacy import ERASE_ACTION

ADDR = "198.51.100.23"


def _entries(db, action):
    return db.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))


def _staff(app, role):
    staff = Staff(app, role)
    staff.client.environ_base["REMOTE_ADDR"] = ADDR
    return staff


def test_every_kind_of_staff_action_is_recorded(
    app, api, db, make_workflow, make_workflow_template, make_user_type, make_end_user
):
    admin, operator = _staff(app, "admin"), _staff(app, "operator")

    # workflow template saved (dashboard builder) and activated/deactivated
    from test_pages_workflow_templates import LOAN_FIELDS, builder_form

    r = admin.post("/workflow-templates/-/new", builder_form("audited_loan", LOAN_FIELDS), htmx=True)
    assert r.status_code == 204
    assert admin.post("/workflow-templates/audited_loan/active", {"active": "0"}).status_code in (200, 204, 303)

    # permission granted and revoked
    ut = make_user_type()
    t = make_workflow_template(is_active=True)
    grant = {"user_type_id": ut["id"], "workflow_template_id": t["id"]}
    assert admin.post("/permissions/grant", {**grant, "grant": "1"}).status_code in (200, 204, 303)
    assert admin.post("/permissions/grant", {**grant, "grant": "0"}).status_code in (200, 204, 303)

    # workflow filled, cancelled
    wf = make_workflow(state_schema=SCHEMA)
    page = text(operator.get(f"/workflows/{wf['id']}"))
    assert operator.post(
        f"/workflows/{wf['id']}/state", form_data(page, amount="5000", purpose="Roof"), htmx=True
    ).status_code in (200, 204)
    assert operator.post(
        f"/workflows/{wf['id']}/status", {"status": "cancelled", "reason": "duplicate"}, htmx=True
    ).status_code in (200, 204)

    # dependency resolved by an operator
    user = make_end_user()
    make_workflow_template(name="kyc_check", grant_to=[user["user_type_id"]])
    waiting = make_workflow(
        user=user, workflow_dependencies=[{"name": "kyc", "type": "workflow", "template": "kyc_check"}]
    )
    assert waiting["status"] == "waiting"
    assert (
        operator.post(
            f"/workflows/{waiting['id']}/dependencies/kyc", {"outcome": "succeeded", "reason": "seen"}, htmx=True
        ).status_code
        == 204
    )

    # tokens created and revoked on the admin page
    r = admin.post("/admin/tokens", {"name": "bank-bot", "role": "integration"})
    assert r.status_code == 201 and "wf_" in text(r)
    token_id = _entries(db, "token_created")[-1].target_id
    assert admin.post(f"/admin/tokens/{token_id}/revoke").status_code == 303

    # a change made with a staff API token
    assert api.post("/api/user-types", {"id": "audited_type"}).status_code == 201

    # login failure
    make_staff(app, "someone", "viewer")
    c = app.test_client()
    c.post(
        "/login",
        data={"username": "someone", "password": "wrong", "csrf_token": csrf_from(text(c.get("/login")))},
        environ_base={"REMOTE_ADDR": ADDR},
    )

    expected = {
        "workflow_template_created": ("staff:admin1", "workflow_template"),
        "workflow_template_deactivated": ("staff:admin1", "workflow_template"),
        "permission_granted": ("staff:admin1", "permission"),
        "permission_revoked": ("staff:admin1", "permission"),
        "workflow_state_updated": ("staff:operator1", "workflow"),
        "workflow_cancelled": ("staff:operator1", "workflow"),
        "dependency_resolved": ("staff:operator1", "workflow"),
        "token_created": ("staff:admin1", "api_token"),
        "token_revoked": ("staff:admin1", "api_token"),
        "api.create_user_type": ("token:test-admin", "api"),
        "login_failed": ("someone", "staff_user"),
    }
    for action, (actor, target_type) in expected.items():
        entries = _entries(db, action)
        assert entries, f"no audit entry {action}"
        e = entries[-1]
        assert e.actor == actor and e.target_type == target_type, (action, e.actor, e.target_type)
        assert e.created_at is not None
        if actor.startswith("staff:") or action == "login_failed":
            assert e.remote_addr == ADDR, action
    # what changed, without personal values
    filled = _entries(db, "workflow_state_updated")[-1]
    assert set(filled.changes["fields"]) == {"amount", "purpose"} and "Roof" not in str(filled.changes)
    assert _entries(db, "workflow_cancelled")[-1].changes == {"reason": "duplicate"}
    assert _entries(db, "token_created")[-1].changes == {"name": "bank-bot", "role": "integration"}
    assert _entries(db, "api.create_user_type")[-1].changes["fields"] == ["id"]
    # the integration's own writes are workflow history, not staff actions
    assert not [e for e in db.scalars(sa.select(AuditEntry)) if e.actor.startswith("token:test-integration")]


def test_end_action_retry_is_recorded(app, api, db, make_workflow):
    import uuid

    from wfapp.extensions import db as _db
    from wfapp.models import Job, JobStatus

    operator = _staff(app, "operator")
    wf = make_workflow(
        state_schema=SCHEMA,
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans", "method": "POST"},
    )
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}, "status": "completed"})
    with app.app_context():
        job = _db.session.scalar(sa.select(Job).where(Job.workflow_id == uuid.UUID(wf["id"])))
        job.status, job.attempts = JobStatus.DEAD, 8
        _db.session.commit()
    assert operator.post(f"/workflows/{wf['id']}/end-action/retry", htmx=True).status_code == 204
    e = _entries(db, "end_action_retried")[-1]
    assert e.actor == "staff:operator1" and e.target_id == wf["id"] and e.remote_addr == ADDR


def test_cli_token_creation_and_revocation_are_recorded(app, db):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["create-token", "cron", "--role", "viewer"])
    assert r.exit_code == 0
    listed = runner.invoke(args=["list-tokens"])
    assert "cron" in listed.output and "viewer" in listed.output and "wf_" not in listed.output
    token_id = _entries(db, "token_created")[-1].target_id
    r = runner.invoke(args=["revoke-token", token_id])
    assert r.exit_code == 0 and "revoked token" in r.output
    assert "cron" not in runner.invoke(args=["list-tokens"]).output
    assert "cron" in runner.invoke(args=["list-tokens", "--all"]).output
    assert "revoked already" in runner.invoke(args=["revoke-token", token_id]).output
    assert runner.invoke(args=["revoke-token", "999"]).exit_code != 0
    assert [e.actor for e in _entries(db, "token_created")] == ["cli"]
    assert [e.actor for e in _entries(db, "token_revoked")] == ["cli"]


def test_a_token_revoked_from_the_cli_is_refused_at_once(app, api):
    secret = api.token("operator")
    assert api.get("/api/workflows", role="operator").status_code == 200
    runner = app.test_cli_runner()
    token_id = [
        line.split()[0] for line in runner.invoke(args=["list-tokens"]).output.splitlines() if "test-operator" in line
    ][0]
    assert runner.invoke(args=["revoke-token", token_id]).exit_code == 0
    r = api.client.get("/api/workflows", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401


def test_audit_page_filters_and_is_for_admins_only(app, db):
    admin = _staff(app, "admin")
    for role in ("operator", "viewer"):
        assert Staff(app, role).get("/admin/audit").status_code == 403
    c = app.test_client()
    for name in ("mallory", "trent"):
        c.post("/login", data={"username": name, "password": "x" * 9, "csrf_token": csrf_from(text(c.get("/login")))})
    page = text(admin.get("/admin/audit"))
    assert "mallory" in page and "trent" in page and "login_failed" in page
    page = text(admin.get("/admin/audit?actor=mallory"))
    assert "mallory" in page and "trent" not in page
    page = text(admin.get("/admin/audit?action=login"))
    assert "staff:admin1" in page and "mallory" not in page
    r = admin.get("/admin/audit?action=login_failed", htmx=True)
    assert "<html" not in text(r) and "mallory" in text(r)
    assert "No entries match" in text(admin.get("/admin/audit?after=2999-01-01"))
    r = admin.get("/admin/audit?after=yesterday")
    assert r.status_code == 200 and "use a date" in text(r)


def test_erasure_is_recorded(api, db, make_end_user):
    user = make_end_user(display_name="Someone")
    api.delete(f"/api/users/{user['id']}")
    e = _entries(db, ERASE_ACTION)[-1]
    assert e.actor == "token:test-admin" and e.target_id == user["id"]


def test_admin_actions_need_the_csrf_token(app, api, db):
    admin = _staff(app, "admin")
    api.token("viewer")
    token_id = [
        line.split()[0]
        for line in app.test_cli_runner().invoke(args=["list-tokens"]).output.splitlines()
        if "test-viewer" in line
    ][0]
    assert admin.post(f"/admin/tokens/{token_id}/revoke", csrf=False).status_code == 400
    assert admin.post("/admin/tokens", {"name": "x", "role": "admin"}, csrf=False).status_code == 400
    assert admin.post("/admin/privacy/erase", {"user_id": "x"}, csrf=False).status_code == 400
    assert api.get("/api/workflows", role="viewer").status_code == 200  # still valid
    assert not _entries(db, "token_revoked") and not _entries(db, "token_created")
