"""/api/workflows: start, merge, complete, cancel, fail, list, events, context, and every refusal."""

import sqlalchemy as sa

from wfapp.models import Job, Workflow, WorkflowEvent

SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount", "description": "in euros"},
    "purpose": {"type": "string", "required": True, "maxLength": 50},
    "email": {"type": "email"},
    "term": {"type": "enum", "choices": [12, 24, 36], "default": 24},
    "birthday": {"type": "date"},
    "phone": {"type": "phone"},
    "tags": {"type": "array"},
    "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "count": {"type": "integer", "maximum": 5},
    "ok": {"type": "boolean"},
}


def test_start_applies_defaults_and_records_the_event(api, make_workflow, make_workflow_template):
    wf = make_workflow(state_schema=SCHEMA)
    assert wf["state_data"] == {"term": 24}
    assert wf["status"] == "active" and wf["template_version"] == 1
    events = api.get(f"/api/workflows/{wf['id']}/events").json["items"]
    assert [(e["seq"], e["type"], e["actor"]) for e in events] == [(1, "started", "token:test-integration")]


def test_start_refusals(api, db, make_end_user, make_workflow_template, make_user_type):
    user = make_end_user()
    granted = make_workflow_template(grant_to=[user["user_type_id"]])
    not_granted = make_workflow_template()

    def start(**kw):
        body = {"template_id": granted["id"], "conversation_id": "c1", "user_id": user["id"], **kw}
        return api.post("/api/workflows", body, role="integration")

    r = start(template_id=not_granted["id"])
    assert r.status_code == 403 and user["user_type_id"] in r.json["detail"]
    r = start(template_id="nope")
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/template_id"
    r = start(user_id="ghost")
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/user_id"
    r = start(conversation_id="")
    assert r.status_code == 422
    r = start(state_data={"amount": 5})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/state_data/amount"
    assert (
        api.post(
            "/api/workflows",
            {"template_id": granted["id"], "conversation_id": "c", "user_id": user["id"]},
            role="viewer",
        ).status_code
        == 403
    )
    api.patch(f"/api/workflow-templates/{granted['id']}", {"is_active": False})
    r = start()
    assert r.status_code == 409 and "not active" in r.json["detail"]
    assert db.count(Workflow) == 0 and db.count(WorkflowEvent) == 0


def test_one_open_workflow_per_conversation(api, db, make_end_user, make_workflow_template):
    user = make_end_user()
    t = make_workflow_template(grant_to=[user["user_type_id"]])
    body = {"template_id": t["name"], "conversation_id": "conv_1", "user_id": user["id"]}
    first = api.post("/api/workflows", body, role="integration").json
    r = api.post("/api/workflows", body, role="integration")
    assert r.status_code == 409 and r.json["existing_id"] == first["id"] and first["id"] in r.json["detail"]
    assert db.count(Workflow) == 1
    api.put(f"/api/workflows/{first['id']}", {"status": "cancelled", "reason": "restart"})
    assert api.post("/api/workflows", body, role="integration").status_code == 201


def test_merge_validates_each_touched_field(api, db, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    url = f"/api/workflows/{wf['id']}"
    r = api.put(
        url,
        {
            "state_data": {
                "amount": 500,
                "email": "nope",
                "birthday": "2024-13-45",
                "phone": "call me",
                "term": 7,
                "code": "abc",
                "count": 9,
                "ok": "yes",
                "tags": "x",
            }
        },
        role="integration",
    )
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    errors = {e["path"]: e["message"] for e in r.json["errors"]}
    assert set(errors) == {
        f"/state_data/{k}" for k in ("amount", "email", "birthday", "phone", "term", "code", "count", "ok", "tags")
    }
    assert errors["/state_data/email"] == "is not a valid email"
    assert errors["/state_data/phone"] == "is not a valid phone number"
    # nothing was written
    assert api.get(url).json["state_data"] == {"term": 24}
    assert db.count(WorkflowEvent) == 1
    # required-ness waits for completion: a partial merge is fine
    r = api.put(
        url, {"state_data": {"email": "a@b.co", "tags": ["x", "y"], "phone": "+44 20 7946 0958"}}, role="integration"
    )
    assert r.status_code == 200
    assert r.json["state_data"] == {"term": 24, "email": "a@b.co", "tags": ["x", "y"], "phone": "+44 20 7946 0958"}


def test_merge_is_rfc7386(api, make_workflow):
    # a full JSON Schema that admits other keys (a compact state_schema refuses undeclared ones)
    wf = make_workflow(state_schema={"type": "object", "properties": {"a": {"type": "string"}}})
    url = f"/api/workflows/{wf['id']}"
    api.put(url, {"state_data": {"a": "1", "extra": {"x": 1, "y": 2}}}, role="integration")
    r = api.put(url, {"state_data": {"a": None, "extra": {"y": None, "z": 3}}}, role="integration")
    assert r.json["state_data"] == {"extra": {"x": 1, "z": 3}}
    events = api.get(f"{url}/events").json["items"]
    assert events[-1]["data"]["diff"] == {
        "set": {"extra": {"x": 1, "z": 3}},
        "removed": ["a"],
        "before": {"extra": {"x": 1, "y": 2}, "a": "1"},
    }


def test_complete_lists_every_missing_or_invalid_field(api, db, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    url = f"/api/workflows/{wf['id']}"
    r = api.put(url, {"status": "completed"}, role="integration")
    assert r.status_code == 422
    assert [e["path"] for e in r.json["errors"]] == ["/state_data/amount", "/state_data/purpose"]
    assert all(e["message"] == "is required" for e in r.json["errors"])
    r = api.put(url, {"status": "completed", "state_data": {"amount": 2000}}, role="integration")
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["/state_data/purpose"]
    # the refused call wrote nothing, not even its state_data
    assert api.get(url).json["state_data"] == {"term": 24}
    r = api.put(url, {"status": "completed", "state_data": {"amount": 2000, "purpose": "car"}}, role="integration")
    assert r.status_code == 200 and r.json["status"] == "completed"
    assert db.count(Workflow, Workflow.status == "completed") == 1


def test_illegal_status_changes_are_409(api, db, make_workflow):
    wf = make_workflow()
    url = f"/api/workflows/{wf['id']}"
    r = api.put(url, {"status": "waiting"}, role="integration")
    assert r.status_code == 409
    r = api.put(url, {"status": "cancelled", "reason": "user left"}, role="integration")
    assert r.status_code == 200 and r.json["status_reason"] == "user left"
    for body in ({"status": "active"}, {"status": "completed"}, {"state_data": {"amount": 5000}}):
        r = api.put(url, body, role="integration")
        assert r.status_code == 409, body
        assert "cancelled" in r.json["detail"]
    got = api.get(url).json
    assert got["status"] == "cancelled" and got["state_data"] == {}
    assert len(api.get(f"{url}/events").json["items"]) == 2


def test_fail_with_reason(api, make_workflow):
    wf = make_workflow()
    r = api.patch(f"/api/workflows/{wf['id']}", {"status": "failed", "reason": "fraud suspected"}, role="operator")
    assert r.status_code == 200 and (r.json["status"], r.json["status_reason"]) == ("failed", "fraud suspected")
    ev = api.get(f"/api/workflows/{wf['id']}/events").json["items"][-1]
    assert ev["actor"] == "token:test-operator" and ev["data"]["reason"] == "fraud suspected"


def test_if_match(api, db, make_workflow):
    wf = make_workflow()
    url = f"/api/workflows/{wf['id']}"
    etag = api.get(url).headers["ETag"]
    r = api.put(url, {"state_data": {"purpose": "car"}}, role="integration", headers={"If-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    stale = api.put(url, {"state_data": {"purpose": "boat"}}, role="integration", headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["current_etag"] == r.headers["ETag"]
    assert api.get(url).json["state_data"] == {"purpose": "car"}
    assert api.get(url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_update_refusals(api, client, db, make_workflow):
    wf = make_workflow()
    url = f"/api/workflows/{wf['id']}"
    assert api.put(url, {"state_data": {"purpose": "x"}}, role="viewer").status_code == 403
    assert client.put(url, json={"state_data": {}}).status_code == 401
    assert api.put("/api/workflows/not-a-uuid", {"state_data": {}}).status_code == 404
    assert api.put("/api/workflows/00000000-0000-0000-0000-000000000000", {"state_data": {}}).status_code == 404
    assert api.put(url, {}).status_code == 422
    assert api.put(url, {"state_data": []}).status_code == 422
    assert api.put(url, {"status": "done"}).status_code == 422
    r = client.put(url, data="{", headers={**api.headers("integration"), "Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.put(url, data="x", headers={**api.headers("integration"), "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert api.get(url).json["state_data"] == {}
    assert db.count(WorkflowEvent) == 1


def test_list_filters_and_cursor(api, make_end_user, make_workflow_template, make_user_type):
    ut = make_user_type()
    alice, bob = make_end_user(user_type_id=ut["id"]), make_end_user(user_type_id=ut["id"])
    loan = make_workflow_template(grant_to=[ut["id"]])
    kyc = make_workflow_template(grant_to=[ut["id"]])
    ids = []
    for i in range(7):
        user = alice if i % 2 else bob
        t = loan if i < 5 else kyc
        ids.append(
            api.post(
                "/api/workflows",
                {"template_id": t["id"], "conversation_id": f"c{i}", "user_id": user["id"]},
                role="integration",
            ).json["id"]
        )
    api.put(f"/api/workflows/{ids[0]}", {"status": "cancelled"})
    api.put(f"/api/workflows/{ids[1]}", {"state_data": {"purpose": "Home improvement"}})

    def listed(query):
        return [w["id"] for w in api.get(f"/api/workflows{query}", role="viewer").json["items"]]

    assert listed("") == ids[::-1]
    assert listed(f"?template={loan['name']}&status=active") == ids[1:5][::-1]
    assert listed(f"?user_id={alice['id']}") == [ids[5], ids[3], ids[1]]
    assert listed("?conversation_id=c4") == [ids[4]]
    assert listed("?status=cancelled") == [ids[0]]
    assert listed("?field=purpose&value=Home%20improvement") == [ids[1]]
    assert listed("?field=purpose&value=improve&match=contains") == [ids[1]]
    assert listed(f"?template={loan['id']}&version=1&status=active,cancelled") == ids[:5][::-1]
    assert listed(f"?template={loan['id']}&version=2") == []
    # pages of 3 walk the whole list once, newest first
    seen, cursor = [], None
    while True:
        page = api.get("/api/workflows?limit=3" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    for bad in (
        "?status=sleeping",
        "?template=nope",
        "?cursor=garbage",
        "?started_after=yesterday",
        "?version=x&template=" + loan["id"],
    ):
        r = api.get(f"/api/workflows{bad}")
        assert r.status_code == 422, bad
        assert r.headers["Content-Type"] == "application/problem+json"


def test_context_for_the_llm(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA, guidelines="Ask for the amount first.")
    url = f"/api/workflows/{wf['id']}"
    api.put(url, {"state_data": {"amount": 5000}}, role="integration")
    ctx = api.get(f"{url}/context", role="integration").json
    assert ctx["guidelines"] == "Ask for the amount first."
    assert ctx["collected"] == {"amount": 5000, "term": 24}
    assert [f["name"] for f in ctx["missing_fields"]] == [
        "purpose",
        "email",
        "birthday",
        "phone",
        "tags",
        "code",
        "count",
        "ok",
    ]
    assert ctx["next_field"] == "purpose" and ctx["missing_required"] == ["purpose"]
    assert ctx["missing_fields"][0]["schema"] == {"type": "string", "maxLength": 50}
    tool = ctx["tool"]
    assert tool["type"] == "function"
    params = tool["function"]["parameters"]
    assert params["properties"]["amount"] == {
        "type": ["number", "null"],  # null clears the field, as the merge does
        "minimum": 1000,
        "title": "Loan amount",
        "description": "in euros",
    }
    assert "required" not in params  # the LLM sends what it has, field by field
    assert ctx["can_complete"] is False
    assert api.get("/api/workflows/nope/context").status_code == 404


def test_events_after_seq(api, make_workflow):
    wf = make_workflow()
    url = f"/api/workflows/{wf['id']}"
    for p in ("a", "b", "c"):
        api.put(url, {"state_data": {"purpose": p}}, role="integration")
    items = api.get(f"{url}/events?after_seq=2").json["items"]
    assert [e["seq"] for e in items] == [3, 4]
    assert items[-1]["data"]["diff"] == {"set": {"purpose": "c"}, "before": {"purpose": "b"}}


def test_end_action_none_enqueues_nothing(api, db, make_workflow):
    wf = make_workflow(state_schema={"x": {"type": "string"}})
    assert api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}, role="integration").status_code == 200
    assert db.count(Job) == 0


def test_openapi_document_publishes_the_request_schemas(api, client, app):
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    from wfapp.schemas.api import WORKFLOW_START

    assert doc["components"]["schemas"]["WorkflowStart"] == WORKFLOW_START
    op = doc["paths"]["/api/workflows"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WorkflowStart"}
    assert {"201", "401", "403", "409", "422"} <= set(op["responses"])
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    rules = {
        (r.rule.replace("<int:", "<").replace("<path:", "<"), m)
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/") and r.rule != "/api/openapi.json"
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    import re

    rules = {(re.sub(r"<([a-z_]+)>", r"{\1}", p), m) for p, m in rules}
    assert rules == documented


def test_refused_merges_are_counted_for_the_analytics(api, db, make_workflow):
    from wfapp.models import AuditEntry
    from wfapp.services.analytics import STATE_REJECTED

    wf = make_workflow(state_schema=SCHEMA)
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 5, "email": "x"}}, role="integration")
    assert r.status_code == 422
    entries = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == STATE_REJECTED))
    assert [(e.target_id, e.changes["fields"], e.actor) for e in entries] == [
        (wf["id"], ["amount", "email"], "token:test-integration")
    ]
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {"term": 24}
