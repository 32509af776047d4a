"""Every registered URL rule and method, for anonymous, viewer, operator, admin and the
integration token, against a table of expected answers. The rules come from app.url_map, so a
new route that the table does not describe fails the test until someone decides who may use it.

Principals: staff roles sign in to the dashboard (pages) and carry an API token of their role
(API); the integration has its token only (no dashboard login); anonymous has neither.
Expected answers: a status code, LOGIN (sent to the sign-in page: 302 to /login), or PASS
(authorized: whatever the handler answers to an empty request, but never 401/403/login and
never a 5xx). Rules with arguments are called twice: with ids that exist, and with ids that do
not (404 for those who may look)."""

import fnmatch
import re

import pytest
from pages_support import PASSWORD, Staff, csrf_from, text

from wfapp.extensions import db as _db
from wfapp.services.tokens import create_token

PRINCIPALS = ("anonymous", "integration", "viewer", "operator", "admin")
LOGIN, PASS = "login", "pass"
STAFF = ("viewer", "operator", "admin")


def _roles(allowed, denied_staff=403, outsiders=LOGIN, ok=200):
    """Expected answers when `allowed` roles may use the route."""
    out = {"anonymous": outsiders, "integration": outsiders}
    for role in STAFF:
        out[role] = ok if role in allowed else denied_staff
    return out


def _api(allowed, ok=200):
    out = {"anonymous": 401}
    for role in ("integration",) + STAFF:
        out[role] = ok if role in allowed else 403
    return out


EVERYONE = {p: 200 for p in PRINCIPALS}
# A dashboard POST without a session has no valid CSRF token: refused (400) before anything runs.
NO_SESSION_POST = 400
ALL_TOKENS = ("integration", "viewer", "operator", "admin")
WRITERS = ("integration", "operator", "admin")
USER_WRITERS = ("integration", "admin")
OPERATE = ("operator", "admin")

# (endpoint pattern, method, expected per principal). The first match wins.
TABLE = [
    # public
    ("static", "GET", EVERYONE),
    ("auth.login", "GET", {"anonymous": 200, "integration": 200, "viewer": 302, "operator": 302, "admin": 302}),
    ("auth.login", "POST", {p: 400 for p in PRINCIPALS}),  # no CSRF token / empty form
    ("auth.logout", "POST", {"anonymous": 400, "integration": 400, "viewer": 303, "operator": 303, "admin": 303}),
    ("ops_health.*", "GET", {p: (200, 503) for p in PRINCIPALS}),
    ("ops_metrics.*", "GET", EVERYONE),  # the test client calls from loopback (METRICS_ALLOW)
    ("api.openapi_document", "GET", EVERYONE),
    # dashboard: any staff user reads
    ("dashboard.home", "GET", _roles(STAFF, ok=302)),
    ("overview.*", "GET", _roles(STAFF)),
    ("permissions.index", "GET", _roles(STAFF)),
    ("attention.index", "GET", _roles(STAFF)),
    ("console.start_panel", "GET", _roles(STAFF)),
    ("console.*", "GET", _roles(OPERATE)),
    ("workflows.*live", "GET", _roles(STAFF, ok=(200, 204, 286))),
    ("workflows.*", "GET", _roles(STAFF)),
    ("workflow_templates.new", "GET", _roles(("admin",))),
    ("workflow_templates.edit", "GET", _roles(("admin",))),
    ("workflow_templates.clone", "GET", _roles(("admin",))),
    ("workflow_templates.import_template", "GET", _roles(("admin",))),
    ("workflow_templates.*", "GET", _roles(STAFF)),
    # dashboard: operators act on workflows; admins change definitions, permissions, tokens
    ("workflows.*", "POST", _roles(OPERATE, ok=PASS, outsiders=NO_SESSION_POST)),
    ("attention.*", "POST", _roles(OPERATE, ok=PASS, outsiders=NO_SESSION_POST)),
    ("console.*_view", "POST", _roles(STAFF, ok=PASS, outsiders=NO_SESSION_POST)),  # saved views: everyone's own
    ("console.*", "POST", _roles(OPERATE, ok=PASS, outsiders=NO_SESSION_POST)),
    ("workflow_templates.*", "POST", _roles(("admin",), ok=PASS, outsiders=NO_SESSION_POST)),
    ("permissions.*", "POST", _roles(("admin",), ok=PASS, outsiders=NO_SESSION_POST)),
    ("admin.*", "GET", _roles(("admin",))),
    ("admin.*", "POST", _roles(("admin",), ok=PASS, outsiders=NO_SESSION_POST)),
    # API
    # the walk may have deleted the subscription already (DELETE comes first in the URL map)
    ("api.*event_subscription*", "GET", _api(("admin",), ok=(200, 404))),
    ("api.event_feed", "GET", _api(("integration", "admin"))),
    ("api.suspend_workflow", "POST", _api(OPERATE, ok=PASS)),
    ("api.resume_workflow", "POST", _api(OPERATE, ok=PASS)),
    ("api.list_*", "GET", _api(ALL_TOKENS)),
    ("api.get_*", "GET", _api(ALL_TOKENS)),
    ("api.create_end_user", "POST", _api(USER_WRITERS, ok=PASS)),
    ("api.update_end_user", "PATCH", _api(USER_WRITERS, ok=PASS)),
    ("api.erase_end_user", "DELETE", _api(("admin",), ok=PASS)),
    ("api.start_workflow", "POST", _api(WRITERS, ok=PASS)),
    ("api.update_workflow", "PUT", _api(WRITERS, ok=PASS)),
    ("api.patch_workflow", "PATCH", _api(WRITERS, ok=PASS)),
    # an operator's decision (with a reason); the called party uses its call's callback address
    ("api.resolve_dependency", "POST", _api(OPERATE, ok=PASS)),
    # no token: the single-use credential in the path is the authority (an empty body: 415 first)
    ("api.dependency_callback", "POST", {p: 415 for p in PRINCIPALS}),
    ("api.apply_tool_call", "POST", _api(WRITERS, ok=PASS)),
    ("api.decline_field", "POST", _api(WRITERS, ok=PASS)),
    ("api.request_handoff", "POST", _api(WRITERS, ok=PASS)),
    ("api.hand_back", "POST", _api(OPERATE, ok=PASS)),
    ("api.retry_*", "POST", _api(OPERATE, ok=PASS)),
    ("api.migrate_*", "POST", _api(OPERATE, ok=PASS)),
    ("api.*", "POST", _api(("admin",), ok=PASS)),
    ("api.*", "PUT", _api(("admin",), ok=PASS)),
    ("api.*", "PATCH", _api(("admin",), ok=PASS)),
    ("api.*", "DELETE", _api(("admin",), ok=PASS)),
]
# Routes that must not run for every principal in turn (they end the caller's session).
FRESH_SESSION = {"auth.logout"}
# The count of rules x methods x principals; raise it when routes are added (and the table says
# who may use them). It guards against the walk silently covering less than the app serves.
MIN_CASES = 116 * len(PRINCIPALS)


def expected_for(endpoint: str, method: str):
    for pattern, m, expected in TABLE:
        if m == method and fnmatch.fnmatchcase(endpoint, pattern):
            return expected
    return None


@pytest.fixture
def world(app, api, make_workflow):
    """One of everything, and a session and a token per principal."""
    wf = make_workflow()
    template = api.get(f"/api/workflow-templates/{wf['template_id']}").json
    perm = api.get("/api/permissions").json["items"][0]
    with app.app_context():
        spare, _ = create_token(_db.session, "spare", "viewer")
        _db.session.commit()
        spare_id = spare.id
    user = api.get(f"/api/users/{wf['user_id']}").json
    sub = api.post("/api/event-subscriptions", {"url": "https://hooks.example/in", "event_types": ["workflow.started"]})
    values = {
        "subscription_id": sub.json["id"],
        "workflow_id": wf["id"],
        "name": template["name"],
        "ref": template["name"],
        "number": 1,
        "user_type_id": user["user_type_id"],
        "user_id": wf["user_id"],
        "permission_id": perm["id"],
        "job_id": 1,
        "token_id": spare_id,
        "filename": "css/wfapp.css",
        "credential": "not-a-callback-credential",
        "view_id": 1,
    }
    missing = {
        "subscription_id": 99999,
        "workflow_id": "00000000-0000-4000-8000-000000000000",
        "name": "no_such_thing",
        "ref": "no_such_thing",
        "number": 99,
        "user_type_id": "no_such_type",
        "user_id": "no_such_user",
        "permission_id": 999999,
        "job_id": 999999,
        "token_id": 999999,
        "filename": "no/such/file.css",
        "credential": "no-such-callback-credential",
        "view_id": 999999,
    }
    sessions = {role: Staff(app, role) for role in STAFF}
    tokens = {role: api.token(role) for role in ("integration",) + STAFF}
    return dict(values=values, missing=missing, sessions=sessions, tokens=tokens)


def _call(app, world, principal: str, method: str, url: str, fresh: bool = False):
    headers = {}
    if principal in world["tokens"] and url.startswith("/api"):
        headers["Authorization"] = f"Bearer {world['tokens'][principal]}"
    elif principal == "integration":
        headers["Authorization"] = f"Bearer {world['tokens']['integration']}"
    data = None
    if principal in STAFF:
        staff = world["sessions"][principal]
        if fresh:
            staff = _fresh_login(app, principal)
        client = staff.client
        if method != "GET" and not url.startswith("/api") and url != "/login":
            data = {"csrf_token": staff.token}
    else:
        client = app.test_client()
    return client.open(url, method=method, headers=headers, data=data)


_fresh_count = [0]


def _fresh_login(app, role):
    """A second signed-in session of the role's user (logout ends only this one)."""
    _fresh_count[0] += 1
    staff = Staff.__new__(Staff)
    staff.app, staff.client = app, app.test_client()
    page = staff.client.get("/login")
    r = staff.client.post(
        "/login", data={"username": f"{role}1", "password": PASSWORD, "csrf_token": csrf_from(text(page))}
    )
    assert r.status_code == 303
    staff.token = csrf_from(text(staff.client.get("/workflow-templates/")))
    return staff


def _check(response, expected, where: str) -> str | None:
    status = response.status_code
    location = response.headers.get("Location", "")
    to_login = status == 302 and "/login" in location
    if expected == LOGIN:
        ok = to_login
    elif expected == PASS:
        ok = status < 500 and status not in (401, 403) and not to_login
    elif isinstance(expected, tuple):
        ok = status in expected and not to_login
    else:
        ok = status == expected and (expected != 302 or not to_login or where.startswith("GET /login"))
    if not ok:
        return f"{where}: expected {expected}, got {status} {location}"
    return None


def test_every_route_for_every_principal(app, world):
    rules = [r for r in app.url_map.iter_rules()]
    unknown, failures, cases = [], [], 0
    for rule in sorted(rules, key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            expected = expected_for(rule.endpoint, method)
            if expected is None:
                unknown.append(f"{method} {rule.rule} ({rule.endpoint})")
                continue
            url = _build(rule, world["values"])
            for principal in PRINCIPALS:
                r = _call(app, world, principal, method, url, fresh=rule.endpoint in FRESH_SESSION)
                problem = _check(r, expected[principal], f"{method} {url} as {principal}")
                if problem:
                    failures.append(problem)
                cases += 1
                r.close()
    assert not unknown, "routes missing from the table (decide who may use them):\n" + "\n".join(unknown)
    assert not failures, "\n".join(failures)
    print(f"\nsecurity matrix: {cases} cases ({cases // len(PRINCIPALS)} rule-methods x {len(PRINCIPALS)} principals)")
    assert cases >= MIN_CASES


def test_ids_that_do_not_exist(app, world):
    """Those who may look get 404 for ids that do not exist; the others are refused first, so
    an outsider cannot even learn what exists."""
    failures, cases = [], 0
    for rule in app.url_map.iter_rules():
        if not rule.arguments or "GET" not in rule.methods:
            continue
        expected = expected_for(rule.endpoint, "GET")
        url = _build(rule, world["missing"])
        for principal in PRINCIPALS:
            want = expected[principal]
            if want in (200, 302) or isinstance(want, tuple):
                want = 404
            r = _call(app, world, principal, "GET", url)
            problem = _check(r, want, f"GET {url} as {principal}")
            if problem:
                failures.append(problem)
            cases += 1
            r.close()
    assert not failures, "\n".join(failures)
    print(f"\nmissing ids: {cases} cases")


def test_a_revoked_token_is_refused_at_once(app, api, world):
    token = world["tokens"]["viewer"]
    assert api.client.get("/api/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    admin = world["sessions"]["admin"]
    listed = text(admin.get("/admin/tokens"))
    token_id = re.search(r'id="token-(\d+)">\s*<td>\d+</td><td>test-viewer<', listed).group(1)
    r = admin.post(f"/admin/tokens/{token_id}/revoke")
    assert r.status_code == 303
    r = api.client.get("/api/workflows", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert "revoked" in r.json["detail"]


def _build(rule, values) -> str:
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(r"<(?:[a-z]+:)?" + arg + r">", str(values[arg]), url)
    return url


def test_htmx_requests_without_a_session_are_sent_to_login(app, world):
    """A page's HTMX request without a session (expired, signed out) gets 401 with HX-Redirect
    to the sign-in page, never a page fragment."""
    cases = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or expected_for(rule.endpoint, "GET")["anonymous"] != LOGIN:
            continue
        r = app.test_client().get(_build(rule, world["values"]), headers={"HX-Request": "true"})
        assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login"), rule.rule
        assert r.get_data() == b""
        cases += 1
    assert cases >= 26
