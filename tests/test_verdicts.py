"""What reaches the end action is what was verified: a dependency's verdict is bound to the values
it checked (a change makes it run again), the end action carries the verdicts with their digests,
merges cannot write a dependency's answer or undeclared fields, and a 202's outcome comes from the
party that was called (its call's single-use callback address). The KYC service and the bank are
real HTTP servers on 127.0.0.1."""

import hashlib
import json
from urllib.parse import urlsplit

import pytest
from receivers import FAST, Answer, Receiver, drain

SCHEMA = {
    "full_name": {"type": "string", "required": True},
    "ssn": {"type": "string", "required": True, "sensitive": True},
    "amount": {"type": "number", "required": True},
}
APPROVED = {"Alice Good", "Alice Cooper"}


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)


def kyc_dep(url, **kw):
    dep = {
        "name": "kyc",
        "api": {
            "endpoint": url + "/kyc",
            "body": {"name": "{{state.full_name}}", "ssn": "{{state.ssn}}"},
            "timeout_s": 2,
        },
        "success_path": "decision",
        "success_values": ["approved"],
        "store_as": "kyc_result",
        "on_failure": {"action": "fail", "message": "identity not verified"},
    }
    dep.update(kw)
    return dep


def kyc_answer(req):
    """The KYC service approves the names it knows."""
    body = req.json()
    return {"decision": "approved" if body["name"] in APPROVED else "rejected", "name": body["name"]}


def digest(values):
    raw = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def setup(api, make_workflow_template, make_end_user, dep, bank_url):
    user = make_end_user()
    t = make_workflow_template(
        grant_to=[user["user_type_id"]],
        state_schema=SCHEMA,
        workflow_dependencies=[dep],
        end_action_type="api_call",
        end_action_target={"endpoint": bank_url + "/loans"},
    )
    return user, t


def test_a_changed_name_runs_the_kyc_again_and_the_bank_gets_only_what_was_approved(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver(kyc_answer) as kyc_service, Receiver([201]) as bank:
        user, t = setup(
            api,
            make_workflow_template,
            make_end_user,
            kyc_dep(kyc_service.url, when={"fields": ["full_name", "ssn"]}),
            bank.url,
        )
        wf = api.post(
            "/api/workflows",
            {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c1"},
            role="integration",
        ).json
        path = f"/api/workflows/{wf['id']}"
        r = api.put(
            path, {"state_data": {"full_name": "Alice Good", "ssn": "111-22-3333", "amount": 1000}}, role="integration"
        )
        assert r.json["status"] == "waiting"
        drain(app, db)
        wf = api.get(path).json
        assert wf["status"] == "active" and wf["state_data"]["kyc_result"]["decision"] == "approved"
        first = wf["pending_dependencies"]["kyc"]
        assert first["inputs"] == ["full_name", "ssn"]
        assert first["inputs_digest"] == digest({"full_name": "Alice Good", "ssn": "111-22-3333"})

        # the chat backend changes the name and the number after the approval
        r = api.put(path, {"state_data": {"full_name": "Alice Cooper", "ssn": "999-88-7777"}}, role="integration")
        assert r.status_code == 200
        assert r.json["status"] == "waiting"  # the verdict no longer counts: pending again
        dep = r.json["pending_dependencies"]["kyc"]
        assert dep["state"] == "pending" and dep["inputs_digest"] == digest(
            {"full_name": "Alice Cooper", "ssn": "999-88-7777"}
        )
        assert "kyc_result" not in r.json["state_data"]  # the earlier answer is gone with its verdict
        # completion is refused until the KYC succeeded on the current values
        assert api.put(path, {"status": "completed"}, role="integration").status_code == 409
        events = api.get(f"{path}/events").json["items"]
        invalidated = [e for e in events if e["type"] == "dependency_invalidated"]
        assert invalidated and invalidated[0]["data"]["changed"] == ["full_name", "ssn"]
        assert "999-88-7777" not in json.dumps(invalidated)  # digests and names, never the values

        drain(app, db)  # the KYC runs again, on the new values
        assert [req.json()["name"] for req in kyc_service.requests] == ["Alice Good", "Alice Cooper"]
        assert kyc_service.requests[1].json()["ssn"] == "999-88-7777"
        r = api.put(path, {"status": "completed"}, role="integration")
        assert r.status_code == 200, r.json
        drain(app, db)

    assert len(bank.requests) == 1
    body = bank.requests[0].json()
    assert body["state_data"]["full_name"] == "Alice Cooper" and body["state_data"]["ssn"] == "999-88-7777"
    [verdict] = body["verifications"]
    assert verdict["dependency"] == "kyc" and verdict["outcome"] == "succeeded"
    assert verdict["inputs"] == ["full_name", "ssn"] and verdict["at"]
    # the receiver recomputes the digest from what it received: it is what the KYC approved
    approved = kyc_service.requests[1].json()
    assert verdict["inputs_digest"] == digest({"full_name": approved["name"], "ssn": approved["ssn"]})
    assert verdict["inputs_digest"] == digest({k: body["state_data"][k] for k in verdict["inputs"]})


def test_a_change_to_a_name_the_kyc_refuses_never_reaches_the_bank(api, app, db, make_workflow_template, make_end_user):
    with Receiver(kyc_answer) as kyc_service, Receiver([201]) as bank:
        user, t = setup(
            api, make_workflow_template, make_end_user, kyc_dep(kyc_service.url, when="before_complete"), bank.url
        )
        wf = api.post(
            "/api/workflows",
            {
                "template_id": t["id"],
                "user_id": user["id"],
                "conversation_id": "c1",
                "state_data": {"full_name": "Alice Good", "ssn": "111-22-3333", "amount": 1000},
            },
            role="integration",
        ).json
        path = f"/api/workflows/{wf['id']}"
        drain(app, db)
        assert api.get(path).json["status"] == "active"
        # changing the name in the very call that completes is refused and writes nothing
        r = api.put(path, {"state_data": {"full_name": "Mallory"}, "status": "completed"}, role="integration")
        assert r.status_code == 409 and r.json["pending"] == ["kyc"]
        assert api.get(path).json["state_data"]["full_name"] == "Alice Good"
        # sent alone, the change runs the check again (before_complete: the workflow could complete)
        r = api.put(path, {"state_data": {"full_name": "Mallory"}}, role="integration")
        assert r.json["status"] == "waiting"
        drain(app, db)
        assert kyc_service.requests[-1].json()["name"] == "Mallory"
        assert api.get(path).json["status"] == "failed"
        assert api.put(path, {"status": "completed"}, role="integration").status_code == 409
        drain(app, db)
    assert bank.requests == []


def test_the_store_as_key_and_undeclared_keys_cannot_be_merged(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"decision": "approved"}]) as kyc_service:
        user, t = setup(api, make_workflow_template, make_end_user, kyc_dep(kyc_service.url), "https://bank.example")
        # not even at the start
        r = api.post(
            "/api/workflows",
            {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c0", "state_data": {"kyc_result": {}}},
            role="integration",
        )
        assert r.status_code == 422 and "kyc_result" in r.json["detail"]
        wf = api.post(
            "/api/workflows",
            {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c1", "state_data": {"full_name": "A"}},
            role="integration",
        ).json
        drain(app, db)
    path = f"/api/workflows/{wf['id']}"
    before = api.get(path).json
    assert before["state_data"]["kyc_result"] == {"decision": "approved"}
    for role in ("integration", "operator", "admin"):
        r = api.put(path, {"state_data": {"kyc_result": {"decision": "approved", "forged": True}}}, role=role)
        assert r.status_code == 422, (role, r.json)
        assert any(e["path"] == "/state_data/kyc_result" for e in r.json["errors"])
        r = api.put(path, {"state_data": {"kyc_result": None}}, role=role)
        assert r.status_code == 422
        r = api.put(path, {"state_data": {"nickname": "Al", "amount": 5}}, role=role)
        assert r.status_code == 422 and "nickname" in r.json["detail"]
        assert [e["path"] for e in r.json["errors"]] == ["/state_data/nickname"]
    after = api.get(path).json
    assert after["state_data"] == before["state_data"] and after["etag"] == before["etag"]


def test_a_template_whose_field_is_a_store_as_key_is_refused(api, make_workflow_template):
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "clash",
            "state_schema": {"full_name": {"type": "string"}, "kyc_result": {"type": "string"}},
            "workflow_dependencies": [kyc_dep("https://kyc.example")],
        },
    )
    assert r.status_code == 422
    assert any(e["path"] == "/workflow_dependencies/0/store_as" for e in r.json["errors"])


def test_a_full_json_schema_decides_by_its_additional_properties(api, app, db, make_workflow_template, make_end_user):
    user = make_end_user()
    open_schema = {"type": "object", "properties": {"full_name": {"type": "string"}}}
    t = make_workflow_template(grant_to=[user["user_type_id"]], state_schema=open_schema)
    wf = api.post("/api/workflows", {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c1"}).json
    assert api.put(f"/api/workflows/{wf['id']}", {"state_data": {"extra": 1}}).status_code == 200
    closed = {**open_schema, "additionalProperties": False}
    t2 = make_workflow_template(grant_to=[user["user_type_id"]], state_schema=closed)
    wf2 = api.post("/api/workflows", {"template_id": t2["id"], "user_id": user["id"], "conversation_id": "c2"}).json
    assert api.put(f"/api/workflows/{wf2['id']}", {"state_data": {"extra": 1}}).status_code == 422


def test_a_202_callback_whose_inputs_changed_meanwhile_no_longer_counts(
    api, app, db, client, make_workflow_template, make_end_user
):
    with Receiver([Answer(202), Answer(202)]) as kyc_service:
        user, t = setup(
            api,
            make_workflow_template,
            make_end_user,
            kyc_dep(kyc_service.url, when={"fields": ["full_name", "ssn"]}),
            "https://bank.example",
        )
        wf = api.post(
            "/api/workflows",
            {
                "template_id": t["id"],
                "user_id": user["id"],
                "conversation_id": "c1",
                "state_data": {"full_name": "Alice Good", "ssn": "1"},
            },
            role="integration",
        ).json
        drain(app, db)
        path = f"/api/workflows/{wf['id']}"
        assert api.put(path, {"state_data": {"full_name": "Eve"}}, role="integration").status_code == 200
        drain(app, db)
    old, new = (urlsplit(r.headers["X-Wfapp-Callback"]).path for r in kyc_service.requests)
    assert [r.json()["name"] for r in kyc_service.requests] == ["Alice Good", "Eve"]
    # the integration token alone cannot resolve it
    r = api.post(f"{path}/dependencies/kyc", {"outcome": "succeeded"}, role="integration")
    assert r.status_code == 403
    # the earlier call (on "Alice Good") answers: it no longer counts
    r = client.post(old, json={"outcome": "succeeded", "result": {"decision": "approved"}})
    assert r.status_code == 409
    assert api.get(path).json["status"] == "waiting"
    r = client.post(new, json={"outcome": "succeeded", "result": {"decision": "approved"}})
    assert r.status_code == 200 and r.json["workflow_status"] == "active"
    assert client.post(new, json={"outcome": "succeeded"}).status_code == 409
    dep = api.get(path).json["pending_dependencies"]["kyc"]
    assert dep["state"] == "succeeded" and dep["inputs_digest"] == digest({"full_name": "Eve", "ssn": "1"})
