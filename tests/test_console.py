"""The operator's console without a browser: version migration through the API (dry run,
migrate, refusals, roles), handoff and claims, the queue page, starting from the dashboard,
saved views and the monitor's columns."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pages_support import idle_workflows, last_interaction, text
from receivers import FAST, drain

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, Job, JobStatus, SavedView, Workflow
from wfapp.services import handoff

V1 = {"amount": {"type": "number", "required": True, "minimum": 1000}, "purpose": {"type": "string"}}
# version 2: purpose has to be one of a few, a new required field
V2 = {
    "amount": {"type": "number", "required": True, "minimum": 1000},
    "purpose": {"type": "enum", "choices": ["car", "home"]},
    "term_months": {"type": "integer", "required": True},
}


@pytest.fixture
def two_versions(api, make_workflow_template, make_end_user):
    user = make_end_user()
    t = make_workflow_template(name="loan", state_schema=V1, grant_to=[user["user_type_id"]])
    good = api.post(
        "/api/workflows",
        {"template_id": "loan", "user_id": user["id"], "conversation_id": "c-good"},
        role="integration",
    ).json
    bad = api.post(
        "/api/workflows", {"template_id": "loan", "user_id": user["id"], "conversation_id": "c-bad"}, role="integration"
    ).json
    api.put(f"/api/workflows/{good['id']}", {"state_data": {"amount": 5000, "purpose": "car"}}, role="integration")
    api.put(f"/api/workflows/{bad['id']}", {"state_data": {"amount": 5000, "purpose": "boat"}}, role="integration")
    r = api.put("/api/workflow-templates/loan", {"state_schema": V2})
    assert r.status_code == 200 and r.json["version"] == 2, r.json
    return {"template": t, "good": good, "bad": bad, "user": user}


def events(api, wid):
    return api.get(f"/api/workflows/{wid}/events").json["items"]


def test_migrate_one_workflow_dry_run_then_for_real(api, two_versions):
    good = two_versions["good"]
    r = api.post(f"/api/workflows/{good['id']}/migrate", {"version": 2, "dry_run": True}, role="operator")
    assert r.status_code == 200, r.json
    assert r.json["ok"] and not r.json["migrated"]
    assert r.json["fields"] == {"valid": ["amount", "purpose"], "invalid": [], "missing": ["term_months"]}
    assert api.get(f"/api/workflows/{good['id']}").json["template_version"] == 1  # a dry run changes nothing
    r = api.post(f"/api/workflows/{good['id']}/migrate", {"version": 2}, role="operator")
    assert r.status_code == 200 and r.json["migrated"], r.json
    assert api.get(f"/api/workflows/{good['id']}").json["template_version"] == 2
    last = events(api, good["id"])[-1]
    assert last["type"] == "migrated" and last["data"]["version"] == {"from": 1, "to": 2}
    # the new version's rules apply to the next write
    w = api.put(f"/api/workflows/{good['id']}", {"state_data": {"purpose": "boat"}}, role="integration")
    assert w.status_code == 422


def test_migrate_refusals_change_nothing(api, two_versions):
    bad = two_versions["bad"]
    dry = api.post(f"/api/workflows/{bad['id']}/migrate", {"version": 2, "dry_run": True}).json
    assert not dry["ok"] and dry["fields"]["invalid"][0]["field"] == "purpose"
    r = api.post(f"/api/workflows/{bad['id']}/migrate", {"version": 2})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/state_data/purpose"
    assert api.get(f"/api/workflows/{bad['id']}").json["template_version"] == 1
    assert api.post(f"/api/workflows/{bad['id']}/migrate", {"version": 1}).status_code == 409  # same version
    r = api.post(f"/api/workflows/{bad['id']}/migrate", {"version": 9})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/version"
    api.put(f"/api/workflows/{bad['id']}", {"status": "cancelled"}, role="integration")
    r = api.post(f"/api/workflows/{bad['id']}/migrate", {"version": 2})
    assert r.status_code == 409 and "cancelled" in r.json["detail"]
    assert api.post(f"/api/workflows/{uuid.uuid4()}/migrate", {"version": 2}).status_code == 404
    assert api.post(f"/api/workflows/{bad['id']}/migrate", {"version": "2"}).status_code == 422
    assert [e["type"] for e in events(api, bad["id"])].count("migrated") == 0


def test_migrate_roles(api, two_versions):
    wid = two_versions["good"]["id"]
    for role in ("viewer", "integration"):
        assert api.post(f"/api/workflows/{wid}/migrate", {"version": 2}, role=role).status_code == 403
        r = api.post("/api/workflow-templates/loan/migrate", {"from_version": 1, "to_version": 2}, role=role)
        assert r.status_code == 403
    assert api.post(f"/api/workflows/{wid}/migrate", {"version": 2, "dry_run": True}, role="admin").status_code == 200


def test_bulk_migration_moves_those_that_pass(app, api, two_versions):
    good, bad = two_versions["good"], two_versions["bad"]
    body = {"from_version": 1, "to_version": 2, "dry_run": True}
    r = api.post("/api/workflow-templates/loan/migrate", body, role="operator")
    assert r.status_code == 200, r.json
    assert {i["workflow_id"]: i["ok"] for i in r.json["items"]} == {good["id"]: True, bad["id"]: False}
    assert r.json["migrated"] == 0 and r.json["refused"] == 1
    r = api.post(
        "/api/workflow-templates/loan/migrate",
        {"from_version": 1, "to_version": 2, "workflow_ids": [good["id"], bad["id"]]},
        role="operator",
    )
    assert r.json["migrated"] == 1 and r.json["refused"] == 1
    assert api.get(f"/api/workflows/{good['id']}").json["template_version"] == 2
    assert api.get(f"/api/workflows/{bad['id']}").json["template_version"] == 1
    r = api.post("/api/workflow-templates/loan/migrate", {"from_version": 2, "to_version": 2})
    assert r.status_code == 422
    assert api.post("/api/workflow-templates/nope/migrate", {"from_version": 1, "to_version": 2}).status_code == 404
    r = api.post("/api/workflow-templates/loan/migrate", {"from_version": 1, "to_version": 2, "workflow_ids": ["x"]})
    assert r.status_code == 422
    with app.app_context():
        assert (
            _db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "api.migrate_template_workflows")
            )
            >= 2
        )


def test_handoff_claims_and_the_queue_page(app, api, operator, admin, make_workflow):
    wf = make_workflow()
    with app.app_context():
        w = _db.session.get(Workflow, uuid.UUID(wf["id"]))
        handoff.request_handoff(_db.session, w, "The user asks for a person", "llm", "token:chat")
        _db.session.commit()
    page = text(operator.get("/attention/"))
    assert "The LLM asked for a human: The user asks for a person" in page
    assert 'id="attention-count"' in page
    r = operator.post(f"/attention/{wf['id']}/claim", {"next": "/attention/"})
    assert r.status_code == 303
    assert 'Claimed by <strong class="claimed-by">staff:operator1' in text(operator.get("/attention/?who=mine"))
    assert "Nothing needs attention" in text(admin.get("/attention/?who=mine"))
    admin.post(f"/attention/{wf['id']}/claim")  # claimed by someone else: refused
    assert events(api, wf["id"])[-1]["type"] == "claimed"
    operator.post(f"/attention/{wf['id']}/hand-back")
    assert "Nothing needs attention" in text(operator.get("/attention/"))
    types = [e["type"] for e in events(api, wf["id"])]
    assert types[-3:] == ["handoff_requested", "claimed", "handoff_returned"]
    operator.post(f"/attention/{wf['id']}/release")
    assert events(api, wf["id"])[-1]["type"] == "released"
    with app.app_context():
        actions = _db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target_id == wf["id"])).all()
    assert {"workflow_claimed", "workflow_released", "workflow_handed_back"} <= set(actions)


def test_incident_in_queue_and_monitor(app, api, db, operator, make_workflow, make_workflow_template):
    app.config.update(FAST)
    make_workflow_template(name="not_granted")
    wf = make_workflow(end_action_type="start_workflow", end_action_target={"template": "not_granted"})
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 5000, "purpose": "x"}, "status": "completed"})
    drain(app, db)
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.DEAD
    assert "The end action gave up" in text(operator.get("/attention/"))
    monitor = text(operator.get("/workflows/?incident=1"))
    assert f'id="wf-{wf["id"]}"' in monitor and "end action dead" in monitor
    operator.post(f"/attention/jobs/{job.id}/retry")
    assert db.get(Job, job.id).status == JobStatus.PENDING


def test_start_from_the_dashboard_has_the_apis_checks(
    app, api, operator, viewer, make_workflow_template, make_user_type
):
    ut = make_user_type()
    make_workflow_template(name="granted", grant_to=[ut["id"]])
    make_workflow_template(name="lonely")
    assert viewer.get("/workflows/-/start").status_code == 403
    panel = text(operator.get("/workflow-templates/lonely/start-panel"))
    assert "No user type is granted" in panel
    r = operator.post(
        "/workflows/-/start",
        {
            "template_id": "lonely",
            "user_mode": "new",
            "user_id": "u1",
            "user_type_id": ut["id"],
            "conversation_id": "c1",
        },
    )
    assert r.status_code == 403 and "may not start" in text(r)
    assert api.get("/api/users/u1").status_code == 404  # refused: nothing written
    r = operator.post(
        "/workflows/-/start",
        {
            "template_id": "granted",
            "user_mode": "new",
            "user_id": "u1",
            "user_type_id": ut["id"],
            "conversation_id": "c1",
        },
    )
    assert r.status_code == 303 and "/workflows/" in r.headers["Location"]
    r = operator.post(
        "/workflows/-/start",
        {"template_id": "granted", "user_mode": "existing", "user_id": "u1", "conversation_id": "c1"},
    )
    assert r.status_code == 409 and "already has an open" in text(r)
    r = operator.post("/workflows/-/start", {"template_id": "granted", "user_id": "ghost", "conversation_id": "c2"})
    assert r.status_code == 422 and "no end user" in text(r)


def test_saved_views_columns_and_default(app, api, operator, viewer, make_workflow, make_workflow_template):
    schema = {**V1, "email": {"type": "email", "sensitive": True}}
    t = make_workflow_template(name="loan", state_schema=schema)
    wf = make_workflow(template=t)
    api.put(
        f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Roof", "email": "a@b.example"}}, role="integration"
    )
    page = text(operator.get("/workflows/?template=loan&cols=purpose,email"))
    assert '<td class="state-col">Roof</td>' in page and "a@b.example" in page
    assert "1 workflow matches" in page
    masked = text(viewer.get("/workflows/?template=loan&cols=purpose,email"))
    assert "a@b.example" not in masked and "••••" in masked
    # empty parameters are left out of the URL
    r = operator.get("/workflows/?template=loan&user_id=&cols=purpose")
    assert r.status_code == 302 and r.headers["Location"].endswith("/workflows/?template=loan&cols=purpose")
    r = operator.post(
        "/workflows/-/views", {"name": "Loans", "query": "template=loan&cols=purpose&cursor=x", "is_default": "true"}
    )
    assert r.status_code == 303
    with app.app_context():
        view = _db.session.scalar(sa.select(SavedView))
        assert view.query == "template=loan&cols=purpose" and view.is_default
    r = operator.get("/workflows/")
    assert r.status_code == 302 and r.headers["Location"].endswith("?template=loan&cols=purpose")
    assert operator.get("/workflows/?view=none").status_code == 200
    assert viewer.get("/workflows/").status_code == 200  # views are per staff user
    assert operator.post(f"/workflows/-/views/{view.id}/delete").status_code == 303
    assert operator.get("/workflows/").status_code == 200


def test_dependency_waiting_for_an_operator_is_in_the_queue(app, api, db, operator, make_workflow):
    from receivers import Receiver

    app.config.update(FAST)
    with Receiver(lambda req: 400) as rx:
        dep = {"name": "kyc", "api": {"endpoint": rx.url + "/check"}, "on_failure": {"action": "wait"}}
        wf = make_workflow(workflow_dependencies=[dep])
        drain(app, db)
    assert api.get(f"/api/workflows/{wf['id']}").json["pending_dependencies"]["kyc"]["needs_operator"]
    page = text(operator.get("/attention/"))
    assert 'data-kind="dependency"' in page and "Resolve kyc" in page
    # the call that failed is a dead job too: an incident beside the dependency
    assert 'data-kind="incident"' in page and 'id="attention-count" aria-label="2 items">2<' in page
    r = operator.post(
        f"/workflows/{wf['id']}/dependencies/kyc", {"outcome": "succeeded", "reason": "checked the passport by phone"}
    )
    assert r.status_code == 303
    assert 'data-kind="dependency"' not in text(operator.get("/attention/"))


def test_suspended_workflows_are_in_the_queue_until_resumed(app, api, operator, viewer, make_workflow):
    wf = make_workflow()
    r = operator.post(f"/workflows/{wf['id']}/suspend", {"reason": "Fraud check by the bank"})
    assert r.status_code in (204, 303), r.status_code
    page = text(operator.get("/attention/"))
    assert 'data-kind="suspended"' in page and "Suspended: Fraud check by the bank" in page
    assert 'id="attention-count" aria-label="1 items">1<' in page  # the navigation's count has it too
    assert f"/workflows/{wf['id']}/resume" in page and ">Resume</button>" in page
    assert "Since " in page.split('data-kind="suspended"')[1]
    assert ">Resume</button>" not in text(viewer.get("/attention/"))  # viewers see, do not act
    assert 'data-kind="suspended"' in text(operator.get("/attention/?kind=suspended"))
    operator.post(f"/workflows/{wf['id']}/resume")
    assert events(api, wf["id"])[-1]["type"] == "unsuspended"
    assert "Nothing needs attention" in text(operator.get("/attention/"))


def test_the_navigation_counts_a_long_queue_as_99_plus(app, operator, make_workflow):
    ids = idle_workflows(app, make_workflow, 101)
    page = text(operator.get("/attention/"))
    assert 'id="attention-count" aria-label="more than 99 items">99+<' in page
    last_interaction(app, ids[2:], timedelta(0))  # all but two are busy again
    assert 'id="attention-count" aria-label="2 items">2<' in text(operator.get("/attention/"))
