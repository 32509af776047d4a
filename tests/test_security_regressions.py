"""Findings of the API fuzzer (tests/test_fuzz_api.py), each kept as a regular test: numbers
beyond what the database stores reached the SQLite driver and overflowed (500)."""

import pytest
from pages_support import Staff

HUGE = "99999999999999999999999"  # > 2**63


def _is_problem(r, status):
    return r.status_code == status and r.mimetype == "application/problem+json" and r.json["status"] == status


def test_huge_after_seq_of_events_is_refused(api, make_workflow):
    wf = make_workflow()
    r = api.get(f"/api/workflows/{wf['id']}/events?after_seq={HUGE}")
    assert _is_problem(r, 422) and r.json["errors"][0]["path"] == "/query/after_seq"
    assert api.get(f"/api/workflows/{wf['id']}/events?after_seq=-{HUGE}").status_code == 422


def test_huge_job_cursor_is_refused(api):
    r = api.get(f"/api/jobs?before={HUGE}")
    assert _is_problem(r, 422) and r.json["errors"][0]["path"] == "/query/before"


def test_huge_version_filter_is_refused(api, make_workflow_template):
    t = make_workflow_template()
    r = api.get(f"/api/workflows?template={t['name']}&version={HUGE}")
    assert _is_problem(r, 422) and r.json["errors"][0]["path"] == "/query/version"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/workflow-templates/{name}/versions/" + HUGE),
        ("DELETE", "/api/permissions/" + HUGE),
        ("POST", "/api/jobs/" + HUGE + "/retry"),
    ],
)
def test_huge_numeric_ids_in_paths_are_not_found(api, make_workflow_template, method, path):
    t = make_workflow_template()
    r = api.call(method, path.format(name=t["name"]))
    assert _is_problem(r, 404)


def test_huge_numbers_in_page_urls_are_not_found(app, make_workflow_template):
    t = make_workflow_template()
    admin = Staff(app, "admin")
    assert admin.get(f"/workflow-templates/{t['name']}/versions/{HUGE}").status_code == 404
    assert admin.post(f"/admin/tokens/{HUGE}/revoke").status_code == 404


def test_limits_within_range_are_still_clamped(api):
    assert api.get("/api/jobs?limit=100000").status_code == 200
    assert api.get("/api/users?limit=100000").status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/user-types/%C2%B3", "/api/permissions/%C2%B3", "/api/jobs/%C2%B3/retry", "/api/users/%C2%B3"]
)
def test_non_ascii_digits_in_paths_are_not_numbers(api, path):
    # '³'.isdigit() is True in Python, but int('³') raises: the guard against huge ids crashed on it
    method = "POST" if path.endswith("/retry") else "DELETE"
    assert _is_problem(api.call(method, path), 404)
    assert api.get("/api/workflows?limit=%C2%B3").status_code == 200


# Deeply nested JSON reached Python's recursion limit in the parser, the request-schema
# validator and the state_schema compiler (500s); schemas whose $ref cannot be resolved or
# refers to itself were saved and then failed every workflow start (500).

DEEP_ARRAY = "[" * 5000 + "]" * 5000
H = {"Content-Type": "application/json"}


def test_deeply_nested_bodies_are_refused(api, make_workflow):
    wf = make_workflow()
    for method, path, body in [
        ("POST", "/api/workflow-templates", DEEP_ARRAY),
        (
            "POST",
            "/api/workflow-templates",
            '{"name": "x", "state_schema": ' + '{"a":' * 3000 + "{}" + "}" * 3000 + "}",
        ),
        ("PUT", f"/api/workflows/{wf['id']}", '{"state_data": {"amount": ' + "[" * 3000 + "]" * 3000 + "}}"),
        ("PUT", f"/api/workflows/{wf['id']}", '{"state_data": {"purpose": ' + "[" * 70 + "]" * 70 + "}}"),
    ]:
        r = api.call(method, path, headers=H, data=body)
        assert _is_problem(r, 400) and "nests deeper than 64" in r.json["detail"], (path, r.status_code)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {}


def test_unresolvable_and_endless_refs_are_refused_when_saved(api):
    for name, prop in [
        ("remote_ref", {"$ref": "http://169.254.169.254/latest/meta-data"}),
        ("endless_ref", {"$ref": "#/properties/a"}),
    ]:
        r = api.post(
            "/api/workflow-templates", {"name": name, "state_schema": {"type": "object", "properties": {"a": prop}}}
        )
        assert _is_problem(r, 422), name
        assert r.json["errors"][0]["path"] == "/state_schema/properties/a"


def test_a_stored_schema_that_cannot_be_evaluated_answers_422(app, api, make_workflow):
    from wfapp.extensions import db as _db
    from wfapp.models import TemplateVersion
    from wfapp.schemas.state_schema import clear_cache

    wf = make_workflow()
    with app.app_context():  # as if saved before such schemas were refused
        version = _db.session.get(TemplateVersion, 1)
        version.state_schema = {"type": "object", "properties": {"amount": {"$ref": "#/properties/amount"}}}
        _db.session.commit()
    clear_cache()
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 5}})
    assert _is_problem(r, 422)  # the schema is re-checked when compiled: refused, never a 500


def test_dashboard_refuses_deep_json_with_a_message(app):
    admin = Staff(app, "admin")
    r = admin.post("/workflow-templates/-/import", {"document": DEEP_ARRAY})
    assert r.status_code == 422 and "nests too deeply" in r.get_data(as_text=True)
    doc = '{"name": "deep_import", "state_schema": ' + '{"a":' * 200 + "{}" + "}" * 200 + "}"
    r = admin.post("/workflow-templates/-/import", {"document": doc})
    assert r.status_code == 422 and "nests deeper than 64" in r.get_data(as_text=True)
    r = admin.post(
        "/workflow-templates/-/new",
        {"name": "deep_raw", "schema_mode": "raw", "state_schema_json": DEEP_ARRAY},
        htmx=True,
    )
    assert r.status_code == 422


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_not_json(api, make_workflow, number):
    # Python's json reads them; stored, they made every later answer invalid JSON
    wf = make_workflow()
    r = api.put(f"/api/workflows/{wf['id']}", headers=H, data='{"state_data": {"amount": ' + number + "}}")
    assert _is_problem(r, 400)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {}


def test_operator_form_refuses_non_finite_numbers(app, api, make_workflow):
    import re as _re

    wf = make_workflow()
    operator = Staff(app, "operator")
    page = operator.get(f"/workflows/{wf['id']}").get_data(as_text=True)
    etag = _re.search(r'name="etag" value="([^"]+)"', page).group(1).replace("&#34;", '"')
    seq = _re.search(r'name="base_seq" value="([^"]+)"', page).group(1)
    for raw in ("nan", "inf", "-Infinity"):
        r = operator.post(
            f"/workflows/{wf['id']}/state",
            {"etag": etag, "base_seq": seq, "state-amount": raw, "state-purpose": "Roof"},
            htmx=True,
        )
        assert r.status_code == 422, raw
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {}
