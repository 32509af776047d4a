"""Personal data stays where the schema puts it: a sensitive field's value is masked for viewers
in dependency calls (endpoints, events, jobs, the workflow page) and in the stored answer of a
sensitive dependency; erasing an end user cancels their pending calls, scrubs their jobs, and a
second erasure writes nothing; an erased dead end action is not retried blindly (409)."""

import json
import uuid

import pytest
import sqlalchemy as sa
from pages_support import text
from receivers import FAST, Receiver, drain

from wfapp.models import AuditEntry, Job, JobStatus, Workflow, WorkflowEvent

SSN = "123-45-6789"
SCHEMA = {
    "ssn": {"type": "string", "sensitive": True},
    "amount": {"type": "number", "required": True},
}


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def _dep(url, **kw):
    return {
        "name": "credit_check",
        "when": {"fields": ["ssn"]},
        "api": {"endpoint": url + "/score?ssn={{state.ssn}}", "method": "GET", "timeout_s": 2},
        "success_path": "decision",
        "success_values": ["ok"],
        "store_as": "credit",
        **kw,
    }


def _start(api, make_workflow_template, make_end_user, deps, **kw):
    user = make_end_user()
    t = make_workflow_template(grant_to=[user["user_type_id"]], state_schema=SCHEMA, workflow_dependencies=deps, **kw)
    r = api.post(
        "/api/workflows",
        {"template_id": t["id"], "user_id": user["id"], "conversation_id": f"c_{uuid.uuid4().hex[:6]}"},
        role="integration",
    )
    assert r.status_code == 201, r.json
    return r.json, user


def _viewer_sees(api, viewer, wf_id) -> str:
    seen = [
        api.get(f"/api/workflows/{wf_id}", role="viewer").get_data(as_text=True),
        api.get(f"/api/workflows/{wf_id}/events", role="viewer").get_data(as_text=True),
        api.get(f"/api/workflows/{wf_id}/jobs", role="viewer").get_data(as_text=True),
        api.get("/api/jobs", role="viewer").get_data(as_text=True),
        text(viewer.get(f"/workflows/{wf_id}")),
    ]
    return "\n".join(seen)


def test_a_call_reading_a_sensitive_field_is_masked_for_viewers(
    api, app, db, viewer, operator, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "ok", "limit": 9000}]) as rx:
        wf, _user = _start(api, make_workflow_template, make_end_user, [_dep(rx.url)])
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"ssn": SSN}}, role="integration")
        assert r.status_code == 200
        shown = _viewer_sees(api, viewer, wf["id"])  # while the call is pending
        drain(app, db)
    assert rx.requests[0].path.endswith("ssn=" + SSN)  # the receiver got the value
    shown += _viewer_sees(api, viewer, wf["id"])  # after the answer
    assert SSN not in shown and SSN.replace("-", "%2D") not in shown
    assert "9000" not in shown  # the stored answer of a dependency that read a sensitive field
    jobs = api.get(f"/api/workflows/{wf['id']}/jobs", role="viewer").json["items"]
    assert jobs[0]["endpoint"] == f"{rx.url}/••••"
    # operators and the integration still see what was sent and stored
    assert SSN in api.get(f"/api/workflows/{wf['id']}/jobs", role="operator").json["items"][0]["endpoint"]
    assert api.get(f"/api/workflows/{wf['id']}", role="integration").json["state_data"]["credit"]["limit"] == 9000
    assert SSN in text(operator.get(f"/workflows/{wf['id']}"))


def test_a_dependency_declared_sensitive_masks_its_stored_answer(
    api, app, db, viewer, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "ok", "income": 71234}]) as rx:
        dep = _dep(rx.url, sensitive=True, when="on_start")
        dep["api"]["endpoint"] = rx.url + "/income"
        wf, _ = _start(api, make_workflow_template, make_end_user, [dep])
        drain(app, db)
    seen = api.get(f"/api/workflows/{wf['id']}", role="viewer").json
    assert seen["state_data"]["credit"] == "••••"
    assert "71234" not in _viewer_sees(api, viewer, wf["id"])
    assert api.get(f"/api/workflows/{wf['id']}", role="operator").json["state_data"]["credit"]["income"] == 71234
    r = api.post(
        "/api/workflow-templates", {"name": "bad_dep", "workflow_dependencies": [{"name": "x", "sensitive": "yes"}]}
    )
    assert r.status_code == 422


def test_erasure_cancels_pending_calls_scrubs_jobs_and_is_idempotent(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "ok"}]) as rx:
        wf, user = _start(api, make_workflow_template, make_end_user, [_dep(rx.url)])
        api.put(f"/api/workflows/{wf['id']}", {"state_data": {"ssn": SSN}}, role="integration")
        [job] = db.scalars(sa.select(Job))
        assert job.status == JobStatus.PENDING and SSN in json.dumps(job.payload)
        r = api.delete(f"/api/users/{user['id']}")
        assert r.status_code == 200 and r.json["erased"] and r.json["jobs_cancelled"] == 1
        drain(app, db)
        assert rx.requests == []  # the erased value was never sent
    [job] = db.scalars(sa.select(Job))
    assert job.status == JobStatus.DEAD and "erased" in job.last_error
    assert SSN not in json.dumps(job.payload) and job.payload["erased"] is True
    events = db.scalars(sa.select(WorkflowEvent).where(WorkflowEvent.workflow_id == uuid.UUID(wf["id"])))
    assert SSN not in json.dumps([e.data for e in events], ensure_ascii=False)
    assert any(e.type == "job_cancelled" for e in events)
    assert SSN not in json.dumps(db.get(Workflow, uuid.UUID(wf["id"])).pending_dependencies)
    # a second erasure answers that nothing was left and writes nothing
    counts = (db.count(AuditEntry), db.count(WorkflowEvent), db.get(Workflow, uuid.UUID(wf["id"])).row_version)
    again = api.delete(f"/api/users/{user['id']}")
    assert again.status_code == 200 and again.json["erased"] is False and again.json["jobs_cancelled"] == 0
    assert db.count(WorkflowEvent) == counts[1]
    assert db.get(Workflow, uuid.UUID(wf["id"])).row_version == counts[2]
    assert db.count(AuditEntry, AuditEntry.action == "end_user_erased") == 1
    # the cancelled call is not retried with erased values
    r = api.post(f"/api/jobs/{job.id}/retry")
    assert r.status_code == 409 and "erased" in r.json["detail"]


def test_erasure_fails_the_pending_dependency_and_the_workflow_waits_no_more(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "ok"}]) as rx:
        wf, user = _start(api, make_workflow_template, make_end_user, [_dep(rx.url, on_failure={"action": "retry"})])
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"ssn": SSN}}, role="integration")
        assert r.json["status"] == "waiting" and r.json["waiting_for"]["name"] == "credit_check"
        r = api.delete(f"/api/users/{user['id']}")
        assert r.status_code == 200 and r.json["jobs_cancelled"] == 1 and r.json["dependencies_cancelled"] == 1
        drain(app, db)
        assert rx.requests == []  # not retried either
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["status"] == "active" and got["waiting_for"] is None
    dep = got["pending_dependencies"]["credit_check"]
    assert dep["state"] == "failed" and dep["last_error"] == "cancelled: the end user's data was erased"
    failed = [e for e in api.get(f"/api/workflows/{wf['id']}/events").json["items"] if e["type"] == "dependency_failed"]
    assert [e["data"]["error"] for e in failed] == ["cancelled: the end user's data was erased"]
    again = api.delete(f"/api/users/{user['id']}")
    assert again.json["erased"] is False and again.json["dependencies_cancelled"] == 0


def test_a_dead_end_action_whose_body_was_erased_is_not_retried_blindly(api, app, db, operator, make_workflow):
    with Receiver([400]) as rx:
        wf = make_workflow(
            state_schema=SCHEMA,
            end_action_type="api_call",
            end_action_target={"endpoint": rx.url + "/apply", "method": "POST"},
        )
        api.put(
            f"/api/workflows/{wf['id']}",
            {"state_data": {"ssn": SSN, "amount": 5}, "status": "completed"},
            role="integration",
        )
        drain(app, db)
    [job] = db.scalars(sa.select(Job))
    assert job.status == JobStatus.DEAD
    assert api.delete(f"/api/users/{wf['user_id']}").json["erased"]
    r = api.post(f"/api/workflows/{wf['id']}/end-action/retry", role="operator")
    assert r.status_code == 409 and "erased" in r.json["detail"] and r.json["erased"] is True
    r = operator.post(f"/workflows/{wf['id']}/end-action/retry", htmx=True)
    assert r.status_code == 204
    page = text(operator.get(f"/workflows/{wf['id']}"))
    assert "erased" in page
    assert db.get(Job, job.id).status == JobStatus.DEAD
