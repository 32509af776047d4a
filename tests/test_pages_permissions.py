"""Permissions page: the grid of workflow templates x user types, and user types."""

import re

import pytest
from pages_support import is_fragment, text


@pytest.fixture
def setup(make_user_type, make_workflow_template):
    make_user_type("premium_users", name="Premium users")
    make_user_type("basic_users", name="Basic users")
    t = make_workflow_template(name="loan_application")
    return t


def grant(staff, template_id, user_type_id, want=True, **kw):
    return staff.post(
        "/permissions/grant",
        {"user_type_id": user_type_id, "workflow_template_id": template_id, "grant": "1" if want else "0"},
        **kw,
    )


def test_page_full_and_fragment(admin, setup):
    full = admin.get("/permissions/")
    assert full.status_code == 200 and "<html" in text(full) and 'id="permissions-grid"' in text(full)
    frag = admin.get("/permissions/", htmx=True)
    assert frag.status_code == 200 and is_fragment(frag) and "Premium users" in text(frag)
    assert "HX-Request" in frag.headers["Vary"]


def test_one_click_grants_and_revokes_visible_to_the_api(admin, api, setup, make_end_user):
    user = make_end_user(user_type_id="premium_users")
    r = grant(admin, setup["id"], "premium_users", htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    assert 'aria-pressed="true"' in text(r) and 'name="grant" value="0"' in text(r)
    perms = api.get("/api/permissions").json
    items = perms["items"] if isinstance(perms, dict) else perms
    assert [(p["user_type_id"], p["workflow_template_id"]) for p in items] == [("premium_users", setup["id"])]
    available = api.get(f"/api/workflow-templates?user_id={user['id']}").json["items"]
    assert [t["name"] for t in available] == ["loan_application"]
    # a second click with the same intent changes nothing (idempotent)
    assert grant(admin, setup["id"], "premium_users", htmx=True).status_code == 200
    r = grant(admin, setup["id"], "premium_users", want=False, htmx=True)
    assert 'aria-pressed="false"' in text(r)
    assert api.get(f"/api/workflow-templates?user_id={user['id']}").json["items"] == []


def test_grant_without_javascript_redirects_back(admin, api, setup):
    r = grant(admin, setup["id"], "basic_users")
    assert r.status_code == 303 and r.headers["Location"] == "/permissions/"
    assert "Granted" in text(admin.get("/permissions/"))


def test_create_rename_delete_user_type(admin, api, setup):
    r = admin.post("/permissions/user-types", {"id": "gold", "name": "Gold", "description": "top tier"}, htmx=True)
    assert r.status_code == 200 and is_fragment(r) and "Gold" in text(r)
    assert 'hx-swap-oob="true"' in text(r) and "User type gold created" in text(r)
    r = admin.post("/permissions/user-types", {"id": "gold", "name": "Gold again"}, htmx=True)
    assert r.status_code == 422 and "exists" in text(r)
    r = admin.post("/permissions/user-types", {"id": "Bad Id!"}, htmx=True)
    assert r.status_code == 422 and "lowercase" in text(r)
    r = admin.post("/permissions/user-types/gold", {"name": "Gold members", "description": ""}, htmx=True)
    assert r.status_code == 200 and "Gold members" in text(r)
    assert api.get("/api/user-types/gold").json["name"] == "Gold members"
    r = admin.post("/permissions/user-types/gold/delete", htmx=True)
    assert r.status_code == 200
    assert api.get("/api/user-types/gold").status_code == 404


def test_delete_refused_while_used_with_the_reason(admin, api, setup, make_end_user):
    make_end_user(user_type_id="basic_users")
    grant(admin, setup["id"], "premium_users", htmx=True)
    for ut, reason in (("basic_users", "1 end user"), ("premium_users", "1 permission")):
        r = admin.post(f"/permissions/user-types/{ut}/delete", htmx=True)
        assert r.status_code == 409 and reason in text(r)
        assert api.get(f"/api/user-types/{ut}").status_code == 200


@pytest.mark.parametrize("who", ["operator", "viewer"])
def test_read_only_for_operator_and_viewer(request, admin, api, setup, who):
    grant(admin, setup["id"], "premium_users", htmx=True)
    staff = request.getfixturevalue(who)
    body = text(staff.get("/permissions/"))
    assert "✓ granted" in body
    assert '<button type="submit" class="grant' not in body and "New user type" not in body and "Delete" not in body
    for path, data in (
        ("/permissions/grant", {"user_type_id": "basic_users", "workflow_template_id": setup["id"], "grant": "1"}),
        ("/permissions/user-types", {"id": "sneaky"}),
        ("/permissions/user-types/basic_users", {"name": "Renamed"}),
        ("/permissions/user-types/basic_users/delete", {}),
    ):
        assert staff.post(path, data, htmx=True).status_code == 403, path
    assert api.get("/api/user-types/sneaky").status_code == 404
    assert api.get("/api/user-types/basic_users").json["name"] == "Basic users"
    items = api.get("/api/permissions").json
    assert len(items["items"] if isinstance(items, dict) else items) == 1


def test_every_form_refused_without_csrf(admin, api, setup):
    for path, data in (
        ("/permissions/grant", {"user_type_id": "basic_users", "workflow_template_id": setup["id"], "grant": "1"}),
        ("/permissions/user-types", {"id": "sneaky"}),
        ("/permissions/user-types/basic_users", {"name": "Renamed"}),
        ("/permissions/user-types/basic_users/delete", {}),
    ):
        assert admin.post(path, data, csrf=False, htmx=True).status_code == 400, path
    assert api.get("/api/user-types/basic_users").json["name"] == "Basic users"
    items = api.get("/api/permissions").json
    assert len(items["items"] if isinstance(items, dict) else items) == 0


def test_every_form_on_the_page_carries_a_csrf_token(admin, setup):
    body = text(admin.get("/permissions/"))
    forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", body, re.S)
    assert forms and all('name="csrf_token"' in f for f in forms)
