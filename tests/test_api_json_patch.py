"""PATCH /api/workflows/{id} with application/json-patch+json: a JSON Patch (RFC 6902) of
state_data under the rules of a merge, which can also store null where the schema admits it."""

import json

import pytest
from receivers import FAST, Receiver, drain

from wfapp.models import WorkflowEvent

JSON_PATCH = "application/json-patch+json"
COMPACT = {
    "amount": {"type": "number", "required": True, "minimum": 1000},
    "purpose": {"type": "string", "required": True},
    "tags": {"type": "array"},
}
FULL = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "middle_name": {"type": ["string", "null"]},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
        },
    },
    "required": ["name", "middle_name"],
}


def json_patch(api, wf, ops, role="integration", **headers):
    return api.call(
        "PATCH",
        f"/api/workflows/{wf['id']}",
        role=role,
        headers={"Content-Type": JSON_PATCH, **headers},
        data=json.dumps(ops),
    )


def state(api, wf):
    return api.get(f"/api/workflows/{wf['id']}").json["state_data"]


def events(api, wf):
    return api.get(f"/api/workflows/{wf['id']}/events").json["items"]


def test_add_replace_remove_and_test(api, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    etag = api.get(f"/api/workflows/{wf['id']}").headers["ETag"]
    r = json_patch(
        api,
        wf,
        [
            {"op": "add", "path": "/amount", "value": 2000},
            {"op": "add", "path": "/tags", "value": ["a", "b"]},
            {"op": "add", "path": "/tags/-", "value": "c"},
            {"op": "test", "path": "/tags/1", "value": "b"},
            {"op": "remove", "path": "/tags/0"},
            {"op": "replace", "path": "/amount", "value": 3000},
        ],
    )
    assert r.status_code == 200, r.json
    assert r.json["state_data"] == {"amount": 3000, "tags": ["b", "c"]}
    assert r.headers["ETag"] == r.json["etag"] != etag
    last = events(api, wf)[-1]
    assert last["type"] == "state_updated" and last["actor"] == "token:test-integration"
    assert last["data"] == {"diff": {"set": {"amount": 3000, "tags": ["b", "c"]}}, "source": "api"}
    r = json_patch(api, wf, [{"op": "remove", "path": "/tags"}, {"op": "move", "from": "/amount", "path": "/purpose"}])
    # a move validates what it writes: "purpose" is a string field
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["/state_data/purpose"]
    r = json_patch(api, wf, [{"op": "remove", "path": "/tags"}])
    assert r.status_code == 200 and r.json["state_data"] == {"amount": 3000}
    assert events(api, wf)[-1]["data"]["diff"] == {"removed": ["tags"], "before": {"tags": ["b", "c"]}}


def test_null_is_stored_where_the_schema_admits_it(api, make_workflow):
    wf = make_workflow(state_schema=FULL)
    r = json_patch(
        api,
        wf,
        [
            {"op": "add", "path": "/name", "value": "Ada"},
            {"op": "add", "path": "/middle_name", "value": None},
            {"op": "add", "path": "/address", "value": {"city": "Paris"}},
            {"op": "add", "path": "/address/zip", "value": None},
        ],
    )
    assert r.status_code == 200, r.json
    assert r.json["state_data"] == {"name": "Ada", "middle_name": None, "address": {"city": "Paris", "zip": None}}
    assert state(api, wf)["middle_name"] is None  # stored, not dropped
    assert events(api, wf)[-1]["data"]["diff"]["set"]["middle_name"] is None
    # a null held by a required field satisfies it: the workflow completes
    r = api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}, role="integration")
    assert r.status_code == 200 and r.json["state_data"]["middle_name"] is None


def test_null_is_refused_where_the_schema_does_not_admit_it(api, db, make_workflow):
    wf = make_workflow(state_schema=FULL)
    assert json_patch(api, wf, [{"op": "add", "path": "/address", "value": {"city": "Oslo"}}]).status_code == 200
    before = db.count(WorkflowEvent)
    r = json_patch(api, wf, [{"op": "add", "path": "/name", "value": None}])
    assert r.status_code == 422
    assert r.json["errors"] == [
        {
            "path": "/state_data/name",
            "message": "may not be null (its schema does not admit null): remove the field instead",
        }
    ]
    r = json_patch(api, wf, [{"op": "replace", "path": "/address/city", "value": None}])
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["/state_data/address/city"]
    assert state(api, wf) == {"address": {"city": "Oslo"}} and db.count(WorkflowEvent) == before


def test_compact_fields_are_never_nullable(api, make_workflow):
    # the compact form has no nullable types: a null is refused there, as it is sent
    wf = make_workflow(state_schema=COMPACT)
    r = json_patch(api, wf, [{"op": "add", "path": "/purpose", "value": None}])
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/state_data/purpose"
    assert "may not be null" in r.json["errors"][0]["message"]


def test_a_failed_test_is_a_conflict_and_changes_nothing(api, db, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    assert json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 2000}]).status_code == 200
    before = db.count(WorkflowEvent)
    ops = [{"op": "replace", "path": "/amount", "value": 5000}, {"op": "test", "path": "/amount", "value": 2000}]
    r = json_patch(api, wf, ops)
    assert r.status_code == 409 and r.json["title"] == "A JSON Patch test failed"
    assert r.json["errors"] == [{"path": "/state_data/amount", "message": "operation 1 (test): the value differs"}]
    r = json_patch(api, wf, [{"op": "test", "path": "/purpose", "value": "x"}])
    assert r.status_code == 409 and r.json["errors"][0]["path"] == "/state_data/purpose"
    assert state(api, wf) == {"amount": 2000} and db.count(WorkflowEvent) == before
    # a test that holds lets the rest through
    ops = [{"op": "test", "path": "/amount", "value": 2000.0}, {"op": "replace", "path": "/amount", "value": 5000}]
    assert json_patch(api, wf, ops).json["state_data"] == {"amount": 5000}


@pytest.mark.parametrize(
    "ops, path",
    [
        ([{"op": "remove", "path": "/purpose"}], "/state_data/purpose"),
        ([{"op": "replace", "path": "/amount", "value": 5}], "/state_data/amount"),
        (
            [{"op": "add", "path": "/amount", "value": 5000}, {"op": "add", "path": "/x/y", "value": 1}],
            "/state_data/x/y",
        ),
        ([{"op": "replace", "path": "", "value": []}], "/state_data"),
        ([{"op": "frobnicate", "path": "/amount"}], "/0/op"),
        ([{"op": "add", "path": "/amount"}], "/0/value"),
        ([{"op": "move", "path": "/amount"}], "/0/from"),
        ([{"op": "add", "path": "amount", "value": 1}], "/0/path"),
    ],
)
def test_refusals_name_the_path_and_change_nothing(api, db, make_workflow, ops, path):
    wf = make_workflow(state_schema=COMPACT)
    before = db.count(WorkflowEvent)
    r = json_patch(api, wf, ops)
    assert r.status_code == 422, r.json
    assert r.json["errors"][0]["path"] == path
    assert state(api, wf) == {} and db.count(WorkflowEvent) == before


def test_an_object_is_not_a_json_patch(api, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    r = json_patch(api, wf, {"state_data": {"amount": 2000}})
    assert r.status_code == 422 and state(api, wf) == {}


def test_if_match_and_ended_or_suspended_workflows(api, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    etag = api.get(f"/api/workflows/{wf['id']}").headers["ETag"]
    r = json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 2000}], **{"If-Match": etag})
    assert r.status_code == 200
    stale = json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 3000}], **{"If-Match": etag})
    assert stale.status_code == 412 and stale.json["current_etag"] == r.headers["ETag"]
    assert state(api, wf) == {"amount": 2000}
    assert api.post(f"/api/workflows/{wf['id']}/suspend", {"reason": "check"}, role="operator").status_code == 200
    assert json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 3000}]).status_code == 409
    assert api.post(f"/api/workflows/{wf['id']}/resume", {}, role="operator").status_code == 200
    assert api.put(f"/api/workflows/{wf['id']}", {"status": "cancelled"}, role="integration").status_code == 200
    r = json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 3000}])
    assert r.status_code == 409 and "cancelled" in r.json["detail"]


def test_validation_through_to_completion(api, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    url = f"/api/workflows/{wf['id']}"
    assert json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 2000}]).status_code == 200
    r = api.put(url, {"status": "completed"}, role="integration")
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["/state_data/purpose"]
    assert json_patch(api, wf, [{"op": "add", "path": "/purpose", "value": "car"}]).status_code == 200
    assert api.put(url, {"status": "completed"}, role="integration").json["status"] == "completed"


def test_a_patch_fires_the_dependencies_it_completes(api, app, db, make_workflow_template, make_end_user):
    app.config.update(FAST)
    user = make_end_user()
    with Receiver([{"decision": "approved"}]) as rx:
        dep = {
            "name": "kyc",
            "api": {"endpoint": rx.url + "/kyc", "method": "POST", "timeout_s": 2, "body": {"a": "{{state.amount}}"}},
            "success_path": "decision",
            "success_values": ["approved"],
            "when": {"fields": ["amount"]},
        }
        t = make_workflow_template(grant_to=[user["user_type_id"]], state_schema=COMPACT, workflow_dependencies=[dep])
        wf = api.post(
            "/api/workflows",
            {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c1"},
            role="integration",
        ).json
        r = json_patch(api, wf, [{"op": "add", "path": "/amount", "value": 2000}])
        assert r.json["status"] == "waiting" and r.json["waiting_for"]["name"] == "kyc"
        drain(app, db)
    assert rx.requests[0].json() == {"a": 2000}
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "active"


def test_a_merge_still_removes_on_null(api, make_workflow):
    wf = make_workflow(state_schema=FULL)
    json_patch(api, wf, [{"op": "add", "path": "/middle_name", "value": "Q"}])
    r = api.patch(f"/api/workflows/{wf['id']}", {"state_data": {"middle_name": None}}, role="integration")
    assert r.status_code == 200 and r.json["state_data"] == {}


def test_openapi_shows_both_bodies_of_patch(api):
    doc = api.get("/api/openapi.json").json
    path = doc["paths"]["/api/workflows/{workflow_id}"]
    assert path["patch"]["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/WorkflowUpdate"}},
        JSON_PATCH: {"schema": {"$ref": "#/components/schemas/WorkflowJsonPatch"}},
    }
    assert list(path["put"]["requestBody"]["content"]) == ["application/json"]
    assert doc["components"]["schemas"]["WorkflowJsonPatch"]["type"] == "array"


def test_undeclared_keys_are_refused_as_in_a_merge(api, make_workflow):
    wf = make_workflow(state_schema=COMPACT)
    for value in ("x", None):
        r = json_patch(api, wf, [{"op": "add", "path": "/nickname", "value": value}])
        assert r.status_code == 422 and r.json["errors"][0]["path"] == "/state_data/nickname"
    assert state(api, wf) == {}
