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


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/workflow-templates/{name}/versions/" + HUGE),
    ("DELETE", "/api/permissions/" + HUGE),
    ("POST", "/api/jobs/" + HUGE + "/retry"),
])
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


@pytest.mark.parametrize("path", ["/api/user-types/%C2%B3", "/api/permissions/%C2%B3", "/api/jobs/%C2%B3/retry",
                                  "/api/users/%C2%B3"])
def test_non_ascii_digits_in_paths_are_not_numbers(api, path):
    # '³'.isdigit() is True in Python, but int('³') raises: the guard against huge ids crashed on it
    method = "POST" if path.endswith("/retry") else "DELETE"
    assert _is_problem(api.call(method, path), 404)
    assert api.get(f"/api/workflows?limit=%C2%B3").status_code == 200
