"""Workflow template pages: list, form builder, versions and diffs, activate, clone, export/import,
LLM tool; every page as full load and HTMX fragment; CSRF and roles."""

import json

import pytest
from pages_support import is_fragment, text

BASE = {
    "name": "",
    "category": "fintech",
    "description": "Personal loan",
    "guidelines": "Be kind.",
    "schema_mode": "builder",
    "deps_mode": "builder",
    "ea_mode": "builder",
    "end_action_type": "none",
}


def builder_form(name="loan_application", fields=(), **extra):
    data = dict(BASE, name=name)
    for i, f in enumerate(fields):
        for k, v in f.items():
            data[f"f-{i}-{k}"] = v
        data.setdefault(f"f-{i}-type", "string")
    data.update(extra)
    return data


LOAN_FIELDS = (
    {"key": "amount", "type": "number", "required": "true", "minimum": "1000", "title": "Loan amount"},
    {"key": "purpose", "type": "enum", "required": "true", "choices": "home\ncar\nstudy"},
    {"key": "full_name", "type": "string", "required": "true"},
    {"key": "email", "type": "email"},
)


def create_loan(admin, name="loan_application"):
    r = admin.post("/workflow-templates/-/new", builder_form(name, LOAN_FIELDS), htmx=True)
    assert r.status_code == 204, text(r)
    assert r.headers["HX-Redirect"] == f"/workflow-templates/{name}"
    return r


# ------------------------------------------------------------------ full pages and fragments

PAGES = [
    "/workflow-templates/",
    "/workflow-templates/loan_application",
    "/workflow-templates/loan_application/versions",
    "/workflow-templates/loan_application/diff?a=1&b=1",
    "/workflow-templates/loan_application/tool",
    "/workflow-templates/loan_application/versions/1",
]
ADMIN_PAGES = [
    "/workflow-templates/-/new",
    "/workflow-templates/loan_application/edit",
    "/workflow-templates/loan_application/clone",
    "/workflow-templates/-/import",
]


@pytest.mark.parametrize("path", PAGES + ADMIN_PAGES)
def test_every_page_full_and_fragment(admin, path):
    create_loan(admin)
    full = admin.get(path)
    assert full.status_code == 200, path
    assert "<html" in text(full) and "Workflow templates" in text(full)
    assert "HX-Request" in full.headers["Vary"]
    frag = admin.get(path, htmx=True)
    assert frag.status_code == 200 and is_fragment(frag), path
    assert "HX-Request" in frag.headers["Vary"]


@pytest.mark.parametrize("who", ["operator", "viewer"])
def test_read_pages_for_operator_and_viewer_without_controls(request, admin, who):
    create_loan(admin)
    staff = request.getfixturevalue(who)
    for path in PAGES:
        r = staff.get(path)
        assert r.status_code == 200, path
        body = text(r)
        assert "Edit (new version)" not in body and "Deactivate" not in body and "New workflow template" not in body
    for path in ADMIN_PAGES:
        assert staff.get(path).status_code == 403, path


# ------------------------------------------------------------------ list


def test_list_search_filters_and_counts(admin, api, make_workflow_template, make_workflow):
    t = make_workflow_template(name="loan_application", category="fintech", description="Personal loan")
    make_workflow_template(name="address_change", category="admin", description="Move house", is_active=False)
    make_workflow(template=t)
    make_workflow(template=t)
    body = text(admin.get("/workflow-templates/"))
    assert "loan_application" in body and "address_change" in body
    assert "active 2" in body
    r = admin.get("/workflow-templates/?q=personal", htmx=True)
    assert is_fragment(r) and "loan_application" in text(r) and "address_change" not in text(r)
    r = admin.get("/workflow-templates/?active=false", htmx=True)
    assert "address_change" in text(r) and "loan_application" not in text(r)
    r = admin.get("/workflow-templates/?category=fintech", htmx=True)
    assert "loan_application" in text(r) and "address_change" not in text(r)
    r = admin.get("/workflow-templates/?q=HOUSE")
    assert "address_change" in text(r) and "loan_application</a>" not in text(r)


# ------------------------------------------------------------------ builder


def test_create_from_builder_then_api_sees_it(admin, api):
    create_loan(admin)
    r = api.get("/api/workflow-templates/loan_application")
    assert r.status_code == 200
    assert r.json["version"] == 1 and r.json["category"] == "fintech"
    assert list(r.json["state_schema"]) == ["amount", "purpose", "full_name", "email"]
    assert r.json["state_schema"]["amount"] == {
        "type": "number",
        "title": "Loan amount",
        "required": True,
        "minimum": 1000,
    }
    assert r.json["state_schema"]["purpose"]["choices"] == ["home", "car", "study"]
    assert "required" not in r.json["state_schema"]["email"]


def test_preview_renders_form_and_schema_from_the_rows(admin):
    r = admin.post("/workflow-templates/-/new/preview", builder_form("x", LOAN_FIELDS), htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    body = text(r)
    assert 'id="preview-amount"' in body and 'type="number"' in body and 'min="1000"' in body
    assert '<option value="car"' in body and 'type="email"' in body
    assert "&#34;minimum&#34;: 1000" in body or '"minimum": 1000' in body
    assert 'hx-swap-oob="true"' in body  # error slots travel out-of-band
    assert "update_x" in body  # the LLM context preview with its tool


def test_ops_add_remove_reorder_without_saving(admin, db):
    from wfapp.models import WorkflowTemplate

    data = builder_form("x", LOAN_FIELDS[:2])
    r = admin.post("/workflow-templates/-/new/op", dict(data, op="add_field"), htmx=True)
    assert is_fragment(r) and 'id="f-2-key"' in text(r)
    r = admin.post("/workflow-templates/-/new/op", dict(data, op="down:0"), htmx=True)
    body = text(r)
    assert body.index('value="purpose"') < body.index('value="amount"')
    r = admin.post("/workflow-templates/-/new/op", dict(data, op="remove_field:0"), htmx=True)
    assert 'value="amount"' not in text(r) and 'value="purpose"' in text(r)
    assert db.count(WorkflowTemplate) == 0


@pytest.mark.parametrize(
    "fields,slot,message",
    [
        (({"key": "amount", "type": "number"}, {"key": "amount", "type": "string"}), "f-1-errors", "duplicate key"),
        (({"key": "code", "type": "string", "pattern": "(a)\\1"},), "f-0-errors", "pattern"),
        (({"key": "amount", "type": "number", "minimum": "5000", "maximum": "100"},), "f-0-errors", "above maximum"),
        (({"key": "amount", "type": "number", "minimum": "lots"},), "f-0-errors", "must be a number"),
        (({"key": "purpose", "type": "enum"},), "f-0-errors", "choice"),
    ],
)
def test_builder_mistakes_show_beside_the_field_and_save_nothing(admin, db, fields, slot, message):
    from wfapp.models import WorkflowTemplate

    data = builder_form("bad_one", fields)
    preview = admin.post("/workflow-templates/-/new/preview", data, htmx=True)
    assert message in _slot(text(preview), slot)
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and is_fragment(r)
    assert message in _slot(text(r), slot)
    assert "Nothing was saved" in text(r)
    assert db.count(WorkflowTemplate) == 0


def _slot(html: str, slot_id: str) -> str:
    start = html.index(f'id="{slot_id}"')
    return html[start : html.index("</div>", start)]


def test_raw_json_mode(admin, api, db):
    from wfapp.models import WorkflowTemplate

    data = builder_form("raw_one", schema_mode="raw", state_schema_json='{"amount": {"type": "number",')
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and "invalid JSON at line 1" in _slot(text(r), "schema-errors")
    data["state_schema_json"] = '{"a": {"type": "string"}, "a": {"type": "number"}}'
    r = admin.post("/workflow-templates/-/new/preview", data, htmx=True)
    assert "duplicate key" in _slot(text(r), "schema-errors")
    data["state_schema_json"] = '{"amount": {"type": "number", "minimum": 5, "maximum": 1}}'
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and "above maximum" in _slot(text(r), "schema-errors")
    assert db.count(WorkflowTemplate) == 0
    data["state_schema_json"] = '{"amount": {"type": "number", "minimum": 5}}'
    assert admin.post("/workflow-templates/-/new", data, htmx=True).status_code == 204
    assert api.get("/api/workflow-templates/raw_one").json["state_schema"] == {
        "amount": {"type": "number", "minimum": 5}
    }


def test_switching_modes_keeps_the_fields(admin):
    r = admin.post("/workflow-templates/-/new/op", builder_form("x", LOAN_FIELDS, op="schema_mode:raw"), htmx=True)
    body = text(r)
    assert 'id="state_schema_json"' in body and "&#34;minimum&#34;: 1000" in body
    raw = json.dumps({"amount": {"type": "number", "minimum": 7}})
    r = admin.post(
        "/workflow-templates/-/new/op",
        dict(BASE, name="x", schema_mode="raw", state_schema_json=raw, op="schema_mode:builder"),
        htmx=True,
    )
    assert 'id="f-0-minimum"' in text(r) and 'value="7"' in text(r)


def test_name_clash_is_reported_beside_the_name(admin):
    create_loan(admin)
    r = admin.post("/workflow-templates/-/new", builder_form("loan_application", LOAN_FIELDS), htmx=True)
    assert r.status_code == 422 and "exists" in _slot(text(r), "err-name")


def api_dep_form(endpoint, ea_endpoint, **dep):
    """The form inputs of one api dependency (kyc, POST) and an api_call end action (POST)."""
    return {
        "d-0-name": "kyc",
        "d-0-type": "api",
        "d-0-method": "POST",
        "d-0-endpoint": endpoint,
        **{f"d-0-{k}": v for k, v in dep.items()},
        "end_action_type": "api_call",
        "ea-endpoint": ea_endpoint,
        "ea-method": "POST",
    }


def test_dependencies_and_end_action_forms_are_validated_like_the_api(admin, api):
    data = builder_form(
        "with_deps",
        LOAN_FIELDS,
        **api_dep_form("not a url", "", when="on_start", body="{bad", failure_action="retry", max_attempts="3"),
    )
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422
    assert "not valid JSON" in _slot(text(r), "d-0-errors")
    assert "endpoint" in _slot(text(r), "ea-errors").lower()
    data.update(
        {
            "d-0-endpoint": "https://kyc.example.com/check",
            "d-0-body": '{"name": "{{state.full_name}}"}',
            "ea-endpoint": "https://api.bank.com/loans/apply",
            "ea-headers": "X-Key: ${secret:BANK}",
        }
    )
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 204, text(r)
    t = api.get("/api/workflow-templates/with_deps").json
    assert t["workflow_dependencies"][0]["api"]["endpoint"] == "https://kyc.example.com/check"
    assert t["workflow_dependencies"][0]["on_failure"]["action"] == "retry"
    assert t["end_action_target"] == {
        "endpoint": "https://api.bank.com/loans/apply",
        "method": "POST",
        "headers": {"X-Key": "${secret:BANK}"},
    }
    # the edit page loads them back into the forms
    body = text(admin.get("/workflow-templates/with_deps/edit"))
    assert 'value="https://kyc.example.com/check"' in body and 'value="https://api.bank.com/loans/apply"' in body


# ------------------------------------------------------------------ versions


def test_edit_makes_a_new_version_with_note_and_diff(admin, api):
    create_loan(admin)
    fields = [dict(f) for f in LOAN_FIELDS]
    fields[0]["minimum"] = "2000"
    r = admin.post(
        "/workflow-templates/loan_application/edit",
        builder_form("loan_application", fields, change_note="raise the minimum"),
        htmx=True,
    )
    assert r.status_code == 204, text(r)
    assert api.get("/api/workflow-templates/loan_application").json["version"] == 2
    body = text(admin.get("/workflow-templates/loan_application/versions"))
    assert "raise the minimum" in body and "staff:admin1" in body and 'id="version-2"' in body
    diff = text(admin.get("/workflow-templates/loan_application/diff?a=1&b=2"))
    assert '<span class="del">    &#34;minimum&#34;: 1000' in diff or "1000" in diff
    assert '<span class="add">' in diff and "2000" in diff
    # unchanged definition: no new version
    r = admin.post("/workflow-templates/loan_application/edit", builder_form("loan_application", fields), htmx=True)
    assert r.status_code == 204
    assert api.get("/api/workflow-templates/loan_application").json["version"] == 2


def test_live_workflows_per_version(admin, make_workflow, api):
    create_loan(admin)
    t = api.get("/api/workflow-templates/loan_application").json
    make_workflow(template=t)
    body = text(admin.get("/workflow-templates/loan_application/versions"))
    row = body[body.index('id="version-1"') :]
    assert '<td class="num">1</td>' in row[: row.index("</tr>")]


def test_activate_deactivate(admin, api):
    create_loan(admin)
    r = admin.post("/workflow-templates/loan_application/active", {"is_active": "false"}, htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"]
    assert api.get("/api/workflow-templates/loan_application").json["is_active"] is False
    r = admin.post("/workflow-templates/loan_application/active", {"is_active": "true"})
    assert r.status_code == 303
    assert api.get("/api/workflow-templates/loan_application").json["is_active"] is True


def test_clone(admin, api):
    create_loan(admin)
    r = admin.post("/workflow-templates/loan_application/clone", {"name": "loan_application"}, htmx=True)
    assert r.status_code == 409 and "exists" in text(r)
    r = admin.post("/workflow-templates/loan_application/clone", {"name": "loan_v2"}, htmx=True)
    assert r.status_code == 204
    t = api.get("/api/workflow-templates/loan_v2").json
    assert t["is_active"] is False and t["state_schema"]["amount"]["minimum"] == 1000


def test_export_and_import(admin, api):
    create_loan(admin)
    r = admin.get("/workflow-templates/loan_application/export")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "attachment" in r.headers["Content-Disposition"]
    doc = json.loads(text(r))
    assert doc["name"] == "loan_application" and doc["state_schema"]["amount"]["minimum"] == 1000
    r = admin.post("/workflow-templates/-/import", {"document": json.dumps(doc)}, htmx=True)
    assert r.status_code == 409 and "nothing was overwritten" in text(r)
    r = admin.post("/workflow-templates/-/import", {"document": "{nope"}, htmx=True)
    assert r.status_code == 422 and "invalid JSON" in text(r)
    bad = dict(doc, name="other", state_schema={"a": {"type": "number", "minimum": 3, "maximum": 1}})
    r = admin.post("/workflow-templates/-/import", {"document": json.dumps(bad)}, htmx=True)
    assert r.status_code == 422 and "above maximum" in text(r)
    r = admin.post("/workflow-templates/-/import", {"document": json.dumps(doc), "rename": "loan_copy"}, htmx=True)
    assert r.status_code == 204
    assert api.get("/api/workflow-templates/loan_copy").json["state_schema"] == doc["state_schema"]


def test_llm_tool_export(admin):
    create_loan(admin)
    body = text(admin.get("/workflow-templates/loan_application/tool"))
    assert "update_loan_application" in body and 'data-copy-target="#tool-json"' in body
    assert "&#34;parameters&#34;" in body


# ------------------------------------------------------------------ CSRF and roles

ADMIN_POSTS = [
    ("/workflow-templates/-/new", lambda: builder_form("csrf_one", LOAN_FIELDS)),
    ("/workflow-templates/-/new/op", lambda: builder_form("csrf_one", LOAN_FIELDS, op="add_field")),
    ("/workflow-templates/-/new/preview", lambda: builder_form("csrf_one", LOAN_FIELDS)),
    (
        "/workflow-templates/loan_application/edit",
        lambda: builder_form("loan_application", LOAN_FIELDS, change_note="x"),
    ),
    (
        "/workflow-templates/loan_application/edit/op",
        lambda: builder_form("loan_application", LOAN_FIELDS, op="add_field"),
    ),
    ("/workflow-templates/loan_application/edit/preview", lambda: builder_form("loan_application", LOAN_FIELDS)),
    ("/workflow-templates/loan_application/active", lambda: {"is_active": "false"}),
    ("/workflow-templates/loan_application/clone", lambda: {"name": "csrf_clone"}),
    ("/workflow-templates/-/import", lambda: {"document": json.dumps({"name": "imp", "state_schema": {}})}),
]


@pytest.mark.parametrize("path,data", ADMIN_POSTS)
def test_every_form_refused_without_csrf(admin, api, path, data):
    create_loan(admin)
    r = admin.post(path, data(), csrf=False, htmx=True)
    assert r.status_code == 400
    t = api.get("/api/workflow-templates/loan_application").json
    assert t["version"] == 1 and t["is_active"] is True
    assert api.get("/api/workflow-templates").json["items"].__len__() == 1


@pytest.mark.parametrize("who", ["operator", "viewer"])
@pytest.mark.parametrize("path,data", ADMIN_POSTS)
def test_every_admin_action_refused_for_operator_and_viewer(request, admin, api, who, path, data):
    create_loan(admin)
    staff = request.getfixturevalue(who)
    r = staff.post(path, data(), htmx=True)
    assert r.status_code == 403
    t = api.get("/api/workflow-templates/loan_application").json
    assert t["version"] == 1 and t["is_active"] is True
    assert len(api.get("/api/workflow-templates").json["items"]) == 1


def test_empty_name_is_not_reported_while_building_but_on_save(admin):
    data = builder_form("", LOAN_FIELDS)
    r = admin.post("/workflow-templates/-/new/preview", data, htmx=True)
    assert _slot(text(r), "err-name").endswith('hx-swap-oob="true">')
    r = admin.post("/workflow-templates/-/new", data, htmx=True)
    assert r.status_code == 422 and "Nothing was saved" in text(r)
    assert _slot(text(r), "err-name").count("msg") >= 1


def test_design_warnings_show_in_the_preview_and_saving_stays_allowed(admin, api, make_user_type, monkeypatch):
    monkeypatch.setenv("WFAPP_SECRET_KYC_TOKEN", "kyc-value-never-shown")
    monkeypatch.delenv("WFAPP_SECRET_BANK", raising=False)
    data = builder_form(
        "warned",
        LOAN_FIELDS,
        **api_dep_form(
            "http://localhost:9000/check",
            "https://10.0.0.7/loans",
            when="fields",
            when_fields="amount, income",
            headers="Authorization: Bearer ${secret:KYC_TOKEN}",
            body='{"name": "{{state.full_nmae}}"}',
            failure_action="fail",
        ),
        **{"ea-headers": "X-Key: ${secret:BANK}"},
    )
    r = admin.post("/workflow-templates/-/new/preview", data, htmx=True)
    assert r.status_code == 200
    box = _slot(text(r), "design-warnings")
    assert "secret BANK" in box and "WFAPP_SECRET_BANK" in box and "KYC_TOKEN" not in box
    assert "kyc-value-never-shown" not in text(r)
    assert "localhost" in box and "a loopback address" in box and "10.0.0.7" in box
    assert "field income" in box and "field full_nmae" in box and "field amount" not in box
    assert "No user type is granted" not in box  # not saved yet
    # warnings are no errors: saving goes through (an unknown when.fields entry is an error, though)
    data["d-0-when_fields"] = "amount"
    assert admin.post("/workflow-templates/-/new", data, htmx=True).status_code == 204
    page = text(admin.get("/workflow-templates/warned/edit"))
    assert "No user type is granted this template" in _slot(page, "design-warnings")
    ut = make_user_type()
    assert api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": "warned"}).status_code == 201
    monkeypatch.setenv("WFAPP_SECRET_BANK", "bank-value")
    page = text(admin.get("/workflow-templates/warned/edit"))
    box = _slot(page, "design-warnings")
    assert "No user type is granted" not in box and "secret BANK" not in box and "bank-value" not in page
