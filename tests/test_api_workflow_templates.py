"""/api/workflow-templates: create, read by id or name, versions, activate, delete, and every refusal."""

import sqlalchemy as sa

from wfapp.models import TemplateVersion, WorkflowTemplate

SCHEMA = {"amount": {"type": "number", "required": True, "minimum": 1000}, "purpose": {"type": "string"}}


def test_create_and_read_by_id_and_name(api):
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "loan_application",
            "category": "fintech",
            "description": "Personal loan application",
            "state_schema": SCHEMA,
        },
    )
    assert r.status_code == 201
    assert r.headers["Location"] == f"/api/workflow-templates/{r.json['id']}"
    by_id = api.get(f"/api/workflow-templates/{r.json['id']}", role="viewer").json
    by_name = api.get("/api/workflow-templates/loan_application", role="integration").json
    assert by_id == by_name
    assert by_id["state_schema"] == SCHEMA and by_id["version"] == 1 and by_id["category"] == "fintech"
    assert list(by_id["state_schema"]) == ["amount", "purpose"]  # field order is the order authored


def test_list_filters(api, make_workflow_template, make_end_user, make_user_type):
    ut = make_user_type()
    a = make_workflow_template(category="fintech", grant_to=[ut["id"]])
    b = make_workflow_template(category="compliance")
    api.patch(f"/api/workflow-templates/{b['id']}", {"is_active": False})
    user = make_end_user(user_type_id=ut["id"])

    def names(query):
        return {t["name"] for t in api.get(f"/api/workflow-templates{query}", role="viewer").json["items"]}

    assert names("") == {a["name"], b["name"]}
    assert names("?category=fintech") == {a["name"]}
    assert names("?is_active=false") == {b["name"]}
    assert names(f"?user_id={user['id']}") == {a["name"]}
    r = api.get("/api/workflow-templates?is_active=maybe")
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/query/is_active"


def test_full_json_schema_is_accepted(api):
    full = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]}
    r = api.post("/api/workflow-templates", {"name": "contact", "state_schema": full})
    assert r.status_code == 201, r.json


def test_put_makes_a_new_version_only_when_the_definition_changes(api, db, make_workflow_template):
    t = make_workflow_template(guidelines="v1")
    same = api.put(f"/api/workflow-templates/{t['id']}", {"guidelines": "v1"})
    assert same.status_code == 200 and same.json["version"] == 1
    changed = api.put(f"/api/workflow-templates/{t['name']}", {"guidelines": "v2", "change_note": "friendlier"})
    assert changed.status_code == 200 and changed.json["version"] == 2
    versions = api.get(f"/api/workflow-templates/{t['id']}/versions").json["items"]
    assert [(v["number"], v["guidelines"], v["is_current"]) for v in versions] == [(1, "v1", False), (2, "v2", True)]
    assert versions[1]["change_note"] == "friendlier" and versions[1]["created_by"] == "token:test-admin"
    v1 = api.get(f"/api/workflow-templates/{t['id']}/versions/1").json
    assert v1["guidelines"] == "v1"
    assert api.get(f"/api/workflow-templates/{t['id']}/versions/9").status_code == 404


def test_patch_switches_without_a_new_version(api, make_workflow_template):
    t = make_workflow_template()
    r = api.patch(f"/api/workflow-templates/{t['id']}", {"is_active": False, "category": "archive"})
    assert r.status_code == 200
    assert (r.json["is_active"], r.json["category"], r.json["version"]) == (False, "archive", 1)


def test_delete_refused_while_workflows_exist(api, db, make_workflow, make_workflow_template):
    wf = make_workflow()
    r = api.delete(f"/api/workflow-templates/{wf['template_id']}")
    assert r.status_code == 409 and "workflow" in r.json["detail"]
    assert db.count(WorkflowTemplate) == 1
    empty = make_workflow_template()
    assert api.delete(f"/api/workflow-templates/{empty['name']}").status_code == 204
    assert api.get(f"/api/workflow-templates/{empty['id']}").status_code == 404
    assert db.count(WorkflowTemplate) == 1


def test_duplicate_name_is_409_naming_the_existing_one(api, db, make_workflow_template):
    t = make_workflow_template(name="kyc")
    r = api.post("/api/workflow-templates", {"name": "kyc", "state_schema": SCHEMA})
    assert r.status_code == 409
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["existing_id"] == t["id"]
    assert db.count(WorkflowTemplate) == 1


def test_invalid_state_schema_is_422_naming_each_field(api, db):
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "bad",
            "state_schema": {
                "amount": {"type": "money"},
                "code": {"type": "string", "pattern": "(a)\\1"},
                "age": {"type": "integer", "minimum": 10, "maximum": 5},
                "size": {"type": "string", "minLength": "three"},
            },
        },
    )
    assert r.status_code == 422
    paths = {e["path"] for e in r.json["errors"]}
    assert {"/state_schema/amount/type", "/state_schema/age/minimum"} <= paths
    assert any(p.startswith("/state_schema/size") for p in paths)
    r2 = api.post("/api/workflow-templates", {"name": "bad2", "state_schema": {"code": {"pattern": "(a)\\1"}}})
    assert r2.status_code == 422 and r2.json["errors"][0]["path"] == "/state_schema/code/pattern"
    assert db.count(WorkflowTemplate) == 0 and db.count(TemplateVersion) == 0


def test_invalid_dependencies_and_end_action_are_422(api, db):
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "bad",
            "state_schema": SCHEMA,
            "workflow_dependencies": [
                {"name": "kyc", "when": {"fields": ["nope"]}, "api": {"endpoint": "https://x.test/"}},
                {"name": "kyc", "api": {"endpoint": "https://x.test/"}},
            ],
            "end_action_type": "api_call",
            "end_action_target": None,
        },
    )
    assert r.status_code == 422
    paths = {e["path"] for e in r.json["errors"]}
    assert "/workflow_dependencies/0/when/fields" in paths
    assert "/workflow_dependencies/1/name" in paths
    assert "/end_action_target/endpoint" in paths
    assert db.count(WorkflowTemplate) == 0


def test_body_refusals(api, client, db):
    h = api.headers("admin")
    r = client.post("/api/workflow-templates", data="{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    r = client.post(
        "/api/workflow-templates", data="name=x", headers={**h, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 415
    big = {"name": "big", "state_schema": SCHEMA, "guidelines": "x" * (2 * 1024 * 1024)}
    r = api.post("/api/workflow-templates", big)
    assert r.status_code == 413 and r.json["status"] == 413
    r = api.post("/api/workflow-templates", {"name": "Bad Name!", "state_schema": SCHEMA})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/name"
    r = api.post("/api/workflow-templates", {"name": "x", "state_schema": SCHEMA, "surprise": 1})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/surprise"
    assert db.count(WorkflowTemplate) == 0


def test_auth_refusals(api, client, db, make_workflow_template):
    body = {"name": "x", "state_schema": SCHEMA}
    assert client.post("/api/workflow-templates", json=body).status_code == 401
    r = client.post("/api/workflow-templates", json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    for role in ("operator", "viewer", "integration"):
        r = api.post("/api/workflow-templates", body, role=role)
        assert r.status_code == 403, role
    t = make_workflow_template()
    assert api.put(f"/api/workflow-templates/{t['id']}", {"guidelines": "x"}, role="operator").status_code == 403
    assert api.delete(f"/api/workflow-templates/{t['id']}", role="integration").status_code == 403
    assert db.count(WorkflowTemplate, WorkflowTemplate.name == "x") == 0
    assert db.count(TemplateVersion) == 1


def test_unknown_template_is_404(api):
    for path in ("/api/workflow-templates/nope", "/api/workflow-templates/00000000-0000-0000-0000-000000000000"):
        r = api.get(path)
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    assert api.put("/api/workflow-templates/nope", {"guidelines": "x"}).status_code == 404


def test_unknown_api_path_and_method_are_problems(api):
    r = api.get("/api/nothing-here")
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    r = api.call("PATCH", "/api/workflows")
    assert r.status_code == 405 and r.headers["Content-Type"] == "application/problem+json"


def test_versions_sql_rows(db, api, make_workflow_template):
    t = make_workflow_template()
    api.put(f"/api/workflow-templates/{t['id']}", {"state_schema": {"amount": {"type": "integer"}}})
    numbers = db.scalars(sa.select(TemplateVersion.number).order_by(TemplateVersion.number))
    assert numbers == [1, 2]
