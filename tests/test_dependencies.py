"""Dependencies: the KYC flow against a real HTTP server on 127.0.0.1, callbacks after 202,
on_failure, and workflow dependencies that resume a waiting workflow by themselves."""

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from receivers import FAST, Answer, Receiver, drain

from wfapp.models import Job, JobStatus

STATE = {"amount": 50000, "purpose": "Home improvement"}
SCHEMA = {
    "full_name": {"type": "string"},
    "amount": {"type": "number", "required": True},
    "purpose": {"type": "string", "required": True},
}


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def kyc(url, **kw):
    dep = {
        "name": "kyc_verification",
        "api": {
            "endpoint": url + "/kyc",
            "method": "POST",
            "timeout_s": 2,
            "body": {"name": "{{state.full_name}}", "ref": "wf-{{workflow.id}}", "amount": "{{state.amount}}"},
        },
        "success_path": "decision",
        "success_values": ["approved"],
        "on_failure": {"action": "fail", "message": "We could not verify your identity."},
    }
    dep.update(kw)
    return dep


def start(api, make_workflow_template, make_end_user, deps, user=None, state=None, name=None, **kw):
    user = user or make_end_user()
    t = make_workflow_template(
        name=name, grant_to=[user["user_type_id"]], state_schema=SCHEMA, workflow_dependencies=deps, **kw
    )
    r = api.post(
        "/api/workflows",
        {
            "template_id": t["id"],
            "user_id": user["id"],
            "conversation_id": "conv_1",
            "state_data": state or {"full_name": "John Doe"},
        },
        role="integration",
    )
    assert r.status_code == 201, r.json
    return r.json


def get(api, wf):
    return api.get(f"/api/workflows/{wf['id']}").json


def call_back(client, received, body, **headers):
    """The called party posts its outcome to the callback address its call carried (no token)."""
    return client.post(urlsplit(received.headers["X-Wfapp-Callback"]).path, json=body, headers=headers)


def test_kyc_on_start_waits_then_an_approval_makes_it_active(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "approved", "score": 97}]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [kyc(rx.url, store_as="kyc")],
            state={"full_name": "John Doe", "amount": 50000},
        )
        assert wf["status"] == "waiting"
        assert wf["waiting_for"]["name"] == "kyc_verification" and wf["waiting_for"]["type"] == "api"
        assert wf["waiting_for"]["since"] and wf["waiting_for"]["attempts"] == 0
        dep = wf["pending_dependencies"]["kyc_verification"]
        assert (dep["state"], dep["type"], dep["attempts"], dep["last_error"]) == ("pending", "api", 0, None)
        assert dep["since"]
        # completing while it is pending is refused, and writes nothing
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car"}, "status": "completed"})
        assert r.status_code == 409 and r.mimetype == "application/problem+json"
        assert "kyc_verification" in r.json["detail"]
        assert "purpose" not in get(api, wf)["state_data"]

        drain(app, db)
    assert rx.requests[0].json() == {"name": "John Doe", "ref": f"wf-{wf['id']}", "amount": 50000}
    assert rx.requests[0].headers["Idempotency-Key"]
    wf = get(api, wf)
    assert wf["status"] == "active" and wf["waiting_for"] is None
    dep = wf["pending_dependencies"]["kyc_verification"]
    assert dep["state"] == "succeeded" and dep["attempts"] == 1
    assert wf["state_data"]["kyc"] == {"decision": "approved", "score": 97}
    types = [e["type"] for e in api.get(f"/api/workflows/{wf['id']}/events").json["items"]]
    assert types[:3] == ["started", "dependency_started", "status_changed"]
    assert "dependency_call" in types and "dependency_succeeded" in types and types[-1] == "status_changed"
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car"}, "status": "completed"})
    assert r.status_code == 200 and r.json["status"] == "completed"


def test_a_refusal_with_on_failure_fail_fails_the_workflow_with_the_message(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "rejected"}]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url)])
        drain(app, db)
    wf = get(api, wf)
    assert wf["status"] == "failed"
    assert wf["status_reason"] == "We could not verify your identity."
    assert wf["waiting_for"] is None
    dep = wf["pending_dependencies"]["kyc_verification"]
    assert dep["state"] == "failed" and "rejected" in dep["last_error"]
    assert len(rx.requests) == 1


def test_202_then_the_callback_resumes_the_workflow(api, app, db, client, make_workflow_template, make_end_user):
    with Receiver([Answer(202, body={"status": "processing"})]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url, store_as="kyc")])
        drain(app, db)
    wf = get(api, wf)
    assert wf["status"] == "waiting"
    assert "callback" in wf["waiting_for"]["message"] and wf["waiting_for"]["attempts"] == 1
    assert db.scalars(sa.select(Job))[0].status == JobStatus.SUCCEEDED  # delivered; the outcome comes later
    # the outcome comes from the party that was called: the integration token alone is refused
    path = f"/api/workflows/{wf['id']}/dependencies/kyc_verification"
    outcome = {"outcome": "succeeded", "result": {"decision": "approved"}}
    assert api.post(path, outcome, role="integration").status_code == 403
    assert api.post(path, {"outcome": "succeeded", "reason": "x"}, role="viewer").status_code == 403
    assert get(api, wf)["status"] == "waiting"
    # a made-up address is refused; a bad body too
    assert client.post("/api/callbacks/not-a-credential", json=outcome).status_code == 403
    assert call_back(client, rx.requests[0], {"outcome": "maybe"}).status_code == 422
    r = call_back(client, rx.requests[0], outcome)
    assert r.status_code == 200, r.json
    assert r.json == {
        "workflow_id": wf["id"],
        "dependency": "kyc_verification",
        "state": "succeeded",
        "workflow_status": "active",
    }
    assert "state_data" not in r.json  # the called party sees nothing of the workflow's data
    wf = get(api, wf)
    assert wf["status"] == "active" and wf["waiting_for"] is None
    assert wf["state_data"]["kyc"] == {"decision": "approved"}
    assert wf["pending_dependencies"]["kyc_verification"]["state"] == "succeeded"
    # the address is single-use: a second callback changes nothing
    assert call_back(client, rx.requests[0], {"outcome": "failed"}).status_code == 409
    assert get(api, wf)["pending_dependencies"]["kyc_verification"]["state"] == "succeeded"
    # only the hash of the credential is stored
    credential = urlsplit(rx.requests[0].headers["X-Wfapp-Callback"]).path.rsplit("/", 1)[1]
    job = db.scalars(sa.select(Job))[0]
    assert credential not in str(job.payload) and job.callback_hash != credential and job.callback_used_at


def test_a_failed_callback_applies_on_failure(api, app, db, client, make_workflow_template, make_end_user):
    with Receiver([202]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url)])
        drain(app, db)
    r = call_back(client, rx.requests[0], {"outcome": "failed", "message": "document expired"})
    assert r.status_code == 200 and r.json["state"] == "failed"
    wf = get(api, wf)
    assert wf["status"] == "failed" and wf["status_reason"] == "We could not verify your identity."


def test_an_operator_resolves_with_a_reason_that_is_recorded_and_audited(
    api, app, db, make_workflow_template, make_end_user
):
    from wfapp.models import AuditEntry

    with Receiver([202]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url, store_as="kyc")])
        drain(app, db)
    path = f"/api/workflows/{wf['id']}/dependencies/kyc_verification"
    r = api.post(path, {"outcome": "succeeded"}, role="operator")
    assert r.status_code == 422  # the reason is required
    r = api.post(path, {"outcome": "succeeded", "reason": "   "}, role="operator")
    assert r.status_code == 422
    # an operator decides the outcome; the dependency's answer is not theirs to write
    r = api.post(path, {"outcome": "succeeded", "reason": "x", "result": {"decision": "approved"}}, role="operator")
    assert r.status_code == 422
    r = api.post(path, {"outcome": "succeeded", "reason": "checked the passport by video call"}, role="operator")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "active" and "kyc" not in r.json["state_data"]
    dep = r.json["pending_dependencies"]["kyc_verification"]
    assert dep["source"] == "operator" and dep["reason"] == "checked the passport by video call"
    events = api.get(f"/api/workflows/{wf['id']}/events").json["items"]
    succeeded = [e for e in events if e["type"] == "dependency_succeeded"][-1]
    assert succeeded["data"]["reason"] == "checked the passport by video call"
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == "dependency_resolved"))
    assert entry.changes["reason"] == "checked the passport by video call"
    assert entry.changes["dependency"] == "kyc_verification"


def test_on_failure_retry_retries_with_backoff(api, app, db, make_workflow_template, make_end_user):
    with Receiver([500, {"decision": "pending"}, {"decision": "approved"}]) as rx:
        wf = start(
            api, make_workflow_template, make_end_user, [kyc(rx.url, on_failure={"action": "retry", "max_attempts": 3})]
        )
        drain(app, db)
    assert len(rx.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in rx.requests}) == 1
    wf = get(api, wf)
    assert wf["status"] == "active"
    assert wf["pending_dependencies"]["kyc_verification"]["attempts"] == 3


def test_on_failure_retry_then_fail(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "rejected"}]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [kyc(rx.url, on_failure={"action": "retry", "max_attempts": 2, "message": "KYC failed twice"})],
        )
        drain(app, db)
    assert len(rx.requests) == 2
    wf = get(api, wf)
    assert wf["status"] == "failed" and wf["status_reason"] == "KYC failed twice"


def test_on_failure_wait_stays_waiting_for_an_operator(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "manual_review"}]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [kyc(rx.url, on_failure={"action": "wait", "message": "An agent reviews your documents."})],
        )
        drain(app, db)
    wf = get(api, wf)
    assert wf["status"] == "waiting"
    assert wf["waiting_for"]["message"] == "An agent reviews your documents."
    dep = wf["pending_dependencies"]["kyc_verification"]
    assert dep["state"] == "pending" and "manual_review" in dep["last_error"]
    r = api.post(
        f"/api/workflows/{wf['id']}/dependencies/kyc_verification",
        {"outcome": "succeeded", "reason": "documents reviewed"},
        role="operator",
    )
    assert r.status_code == 200 and r.json["status"] == "active"


def test_on_failure_continue_goes_on(api, app, db, make_workflow_template, make_end_user):
    with Receiver([503]) as rx:
        app.config["JOB_MAX_ATTEMPTS"] = 2
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [kyc(rx.url, on_failure={"action": "continue", "max_attempts": 2})],
        )
        drain(app, db)
    assert len(rx.requests) == 2  # 503 is retried, then the failure is recorded
    wf = get(api, wf)
    assert wf["status"] == "active" and wf["waiting_for"] is None
    dep = wf["pending_dependencies"]["kyc_verification"]
    assert dep["state"] == "failed" and "503" in dep["last_error"] and dep["attempts"] == 2


def test_when_fields_fires_once_the_fields_are_filled(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "approved"}]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [kyc(rx.url, when={"fields": ["full_name", "amount"]})],
            state={"full_name": "Jane"},
        )
        assert wf["status"] == "active" and wf["pending_dependencies"] == {}
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}})
        assert r.json["status"] == "waiting" and r.json["waiting_for"]["name"] == "kyc_verification"
        drain(app, db)
    assert rx.requests[0].json()["name"] == "Jane"
    assert get(api, wf)["status"] == "active"


def test_before_complete_runs_once_the_workflow_could_complete(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "approved"}]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url, when="before_complete")])
        assert wf["status"] == "active"
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}})
        assert r.json["status"] == "active"  # still missing purpose: nothing to check yet
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car"}})
        assert r.json["status"] == "waiting"
        assert api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}).status_code == 409
        drain(app, db)
    r = api.put(f"/api/workflows/{wf['id']}", {"status": "completed"})
    assert r.status_code == 200 and r.json["status"] == "completed"


def test_loan_waits_for_the_users_kyc_workflow_and_resumes_by_itself(
    api, app, db, make_workflow_template, make_end_user
):
    user = make_end_user()
    other_user = make_end_user(user_type_id=user["user_type_id"])
    kyc_t = make_workflow_template(
        name="kyc_verification",
        grant_to=[user["user_type_id"]],
        state_schema={"document": {"type": "string", "required": True}},
    )
    loan = start(
        api,
        make_workflow_template,
        make_end_user,
        [{"name": "kyc", "type": "workflow", "template": "kyc_verification"}],
        user=user,
        name="loan_application",
    )
    assert loan["status"] == "waiting"
    assert loan["waiting_for"]["name"] == "kyc" and loan["waiting_for"]["type"] == "workflow"
    assert "kyc_verification" in loan["waiting_for"]["message"]

    # another user's KYC changes nothing
    r = api.post("/api/workflows", {"template_id": kyc_t["id"], "user_id": other_user["id"], "conversation_id": "c9"})
    api.put(f"/api/workflows/{r.json['id']}", {"state_data": {"document": "X"}, "status": "completed"})
    assert get(api, loan)["status"] == "waiting"

    r = api.post("/api/workflows", {"template_id": kyc_t["id"], "user_id": user["id"], "conversation_id": "conv_2"})
    kyc_wf = r.json
    r = api.put(f"/api/workflows/{kyc_wf['id']}", {"state_data": {"document": "passport"}, "status": "completed"})
    assert r.status_code == 200
    loan = get(api, loan)
    assert loan["status"] == "active" and loan["waiting_for"] is None
    dep = loan["pending_dependencies"]["kyc"]
    assert dep["state"] == "succeeded" and dep["result"] == {"workflow_id": kyc_wf["id"]}
    events = api.get(f"/api/workflows/{loan['id']}/events").json["items"]
    assert events[-1]["data"]["status"] == {"from": "waiting", "to": "active"}

    # a new loan of the same user: the KYC is already done, it starts active
    loan2 = api.post(
        "/api/workflows", {"template_id": loan["template_id"], "user_id": user["id"], "conversation_id": "conv_3"}
    ).json
    assert loan2["status"] == "active"
    assert loan2["pending_dependencies"]["kyc"]["state"] == "succeeded"


def test_seed_example_dependency_shape(api, app, db, make_workflow_template, make_end_user):
    """The description's `{"name": "kyc_verification", "api": {...}, "on_failure": {...}}`."""
    with Receiver([200]) as rx:
        wf = start(
            api,
            make_workflow_template,
            make_end_user,
            [{"name": "kyc_verification", "api": {"endpoint": rx.url + "/verify"}, "on_failure": {"action": "fail"}}],
        )
        assert wf["status"] == "waiting"
        drain(app, db)
    assert rx.requests[0].json()["state_data"] == {"full_name": "John Doe"}
    assert get(api, wf)["status"] == "active"


def test_a_dead_dependency_call_can_be_retried(api, app, db, make_workflow_template, make_end_user):
    answers = [404]
    with Receiver(lambda req: answers[0]) as rx:
        wf = start(
            api, make_workflow_template, make_end_user, [kyc(rx.url, success_path="", on_failure={"action": "wait"})]
        )
        drain(app, db)
        job = db.scalars(sa.select(Job))[0]
        assert job.status == JobStatus.DEAD
        assert get(api, wf)["status"] == "waiting"
        answers[0] = 200
        r = api.post(f"/api/jobs/{job.id}/retry", role="operator")
        assert r.status_code == 202, r.json
        drain(app, db)
    assert get(api, wf)["status"] == "active"


def test_completing_in_the_call_that_fills_the_state_explains_the_before_complete_check(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver([{"decision": "approved"}]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url, when="before_complete")])
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"})
        assert r.status_code == 409
        assert "kyc_verification must run before" in r.json["detail"] and r.json["pending"] == ["kyc_verification"]
        assert db.count(Job) == 0  # the refused request wrote nothing
        assert api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE}).json["status"] == "waiting"
        drain(app, db)
    assert api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}).json["status"] == "completed"


def test_dependency_calls_say_where_to_call_back(api, app, db, make_workflow_template, make_end_user):
    app.config["PUBLIC_URL"] = "https://wfapp.example.com/"
    with Receiver([500, 202]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url)])
        drain(app, db)
    first, second = (r.headers["X-Wfapp-Callback"] for r in rx.requests)
    assert first.startswith("https://wfapp.example.com/api/callbacks/")
    assert second.startswith("https://wfapp.example.com/api/callbacks/")
    assert first != second and len(second.rsplit("/", 1)[1]) >= 40  # each attempt its own, unguessable
    assert rx.requests[0].headers["X-Wfapp-Workflow"] == wf["id"]


def test_a_retried_calls_earlier_address_is_refused(api, app, db, client, make_workflow_template, make_end_user):
    with Receiver([500, 202]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url)])
        drain(app, db)
    assert call_back(client, rx.requests[0], {"outcome": "succeeded"}).status_code == 403
    assert get(api, wf)["status"] == "waiting"
    assert call_back(client, rx.requests[1], {"outcome": "succeeded"}).status_code == 200
    assert get(api, wf)["status"] == "active"


def test_a_cancelled_workflows_dependency_call_is_not_sent(api, app, db, make_workflow_template, make_end_user):
    with Receiver([200]) as rx:
        wf = start(api, make_workflow_template, make_end_user, [kyc(rx.url)])
        r = api.put(f"/api/workflows/{wf['id']}", {"status": "cancelled", "reason": "user left"})
        assert r.status_code == 200 and r.json["status"] == "cancelled"
        drain(app, db)
    assert rx.requests == []
    job = db.scalars(sa.select(Job))[0]
    assert job.status == JobStatus.SUCCEEDED and "cancelled" in job.last_error
