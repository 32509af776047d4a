"""/api/user-types, /api/users, /api/permissions"""

from wfapp.models import EndUser, Permission, UserType


def test_user_types_crud(api, db):
    r = api.post("/api/user-types", {"id": "premium_users", "name": "Premium", "description": "paying"})
    assert r.status_code == 201 and r.json["name"] == "Premium"
    assert api.get("/api/user-types/premium_users", role="viewer").json["description"] == "paying"
    assert [u["id"] for u in api.get("/api/user-types").json["items"]] == ["premium_users"]
    r = api.patch("/api/user-types/premium_users", {"name": "Premium users"})
    assert r.status_code == 200 and r.json["name"] == "Premium users"
    assert api.delete("/api/user-types/premium_users").status_code == 204
    assert db.count(UserType) == 0


def test_user_type_refusals(api, db, make_workflow_template):
    api.post("/api/user-types", {"id": "basic"})
    r = api.post("/api/user-types", {"id": "basic"})
    assert r.status_code == 409 and r.json["existing_id"] == "basic"
    assert api.post("/api/user-types", {"id": "Not A Slug"}).status_code == 422
    assert api.post("/api/user-types", {"id": "other"}, role="operator").status_code == 403
    assert api.get("/api/user-types/nope").status_code == 404
    api.post("/api/users", {"id": "u1", "user_type_id": "basic"})
    r = api.delete("/api/user-types/basic")
    assert r.status_code == 409 and "end user" in r.json["detail"]
    assert db.count(UserType) == 1


def test_end_users(api, db, make_user_type):
    ut = make_user_type()
    r = api.post("/api/users", {"id": "john_doe", "user_type_id": ut["id"], "display_name": "John"}, role="integration")
    assert r.status_code == 201
    assert api.get("/api/users/john_doe").json["display_name"] == "John"
    other = make_user_type()
    # user types are decided by staff: the integration may not move an end user, an admin may
    assert api.patch("/api/users/john_doe", {"user_type_id": other["id"]}, role="integration").status_code == 403
    r = api.patch("/api/users/john_doe", {"user_type_id": other["id"]})
    assert r.status_code == 200 and r.json["user_type_id"] == other["id"]
    assert [u["id"] for u in api.get(f"/api/users?user_type_id={other['id']}").json["items"]] == ["john_doe"]


def test_end_user_refusals(api, db, make_user_type):
    ut = make_user_type()
    r = api.post("/api/users", {"id": "x", "user_type_id": "missing"})
    assert r.status_code == 422 and r.json["errors"] == [{"path": "/user_type_id", "message": "no user type 'missing'"}]
    api.post("/api/users", {"id": "x", "user_type_id": ut["id"]})
    assert api.post("/api/users", {"id": "x", "user_type_id": ut["id"]}).status_code == 409
    assert api.post("/api/users", {"id": "y", "user_type_id": ut["id"]}, role="viewer").status_code == 403
    assert api.patch("/api/users/x", {"user_type_id": "missing"}).status_code == 422
    assert api.get("/api/users/nobody").status_code == 404
    assert db.count(EndUser) == 1
    assert db.get(EndUser, "x").user_type_id == ut["id"]


def test_permissions(api, db, make_user_type, make_workflow_template):
    ut = make_user_type()
    t = make_workflow_template()
    r = api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": t["name"]})
    assert r.status_code == 201 and r.json["workflow_template_id"] == t["id"]
    items = api.get(f"/api/permissions?workflow_template_id={t['name']}", role="viewer").json["items"]
    assert [p["id"] for p in items] == [r.json["id"]]
    dup = api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": t["id"]})
    assert dup.status_code == 409 and dup.json["existing_id"] == r.json["id"]
    assert api.post("/api/permissions", {"user_type_id": "nope", "workflow_template_id": t["id"]}).status_code == 422
    bad = api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": "nope"})
    assert bad.status_code == 422 and bad.json["errors"][0]["path"] == "/workflow_template_id"
    assert api.delete(f"/api/permissions/{r.json['id']}", role="operator").status_code == 403
    assert db.count(Permission) == 1
    assert api.delete(f"/api/permissions/{r.json['id']}").status_code == 204
    assert api.delete(f"/api/permissions/{r.json['id']}").status_code == 404
    assert api.delete("/api/permissions/abc").status_code == 404
    assert db.count(Permission) == 0
