"""Hostile content: HTML, `javascript:` URLs and template syntax in guidelines, titles,
descriptions, names and state_data values are shown as text on every page that shows them
(and in previews and exports); in Chromium, no script of theirs runs."""

import json
import re
import shutil

import pytest
from conftest import CHROMIUM
from pages_support import PASSWORD, Staff, make_staff, text

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
JS_URL = "javascript:window.__xss=3"
TEMPLATE = "{{ 6006*7 }}{% print 42042 %}"
ATTR = '" onmouseover="window.__xss=4" x="'
HTMX = '<b hx-get="/logout" hx-trigger="load">h</b>'
PAYLOAD = f"{SCRIPT}{IMG}{JS_URL}{TEMPLATE}{ATTR}{HTMX}"  # 197 characters: fits every name field


@pytest.fixture
def hostile(app, api, make_end_user):
    """Everything an author, an integration or an operator can write, filled with payloads."""
    ut = api.post("/api/user-types", {"id": "hostile_type", "name": PAYLOAD, "description": PAYLOAD}).json
    user = make_end_user(id="hostile_user", user_type_id=ut["id"], display_name=PAYLOAD)
    schema = {
        "applicant": {
            "type": "string",
            "title": PAYLOAD,
            "description": PAYLOAD,
            "required": True,
            "examples": [PAYLOAD],
        },
        "secret": {"type": "string", "sensitive": True, "title": PAYLOAD},
        "choice": {"type": "enum", "choices": [PAYLOAD, "plain"], "title": PAYLOAD},
        "homepage": {"type": "string", "default": JS_URL},
    }
    t = api.post(
        "/api/workflow-templates",
        {
            "name": "hostile_template",
            "description": PAYLOAD,
            "guidelines": PAYLOAD,
            "category": SCRIPT + TEMPLATE,
            "state_schema": schema,
            "change_note": PAYLOAD,
            "end_action_type": "api_call",
            "end_action_target": {"endpoint": "https://bank.example/apply?x=" + PAYLOAD, "method": "POST"},
        },
    ).json
    assert "id" in t, t
    api.put(f"/api/workflow-templates/{t['id']}", {"description": PAYLOAD + " v2", "change_note": PAYLOAD})
    api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": t["id"]})
    wf = api.post(
        "/api/workflows",
        {"template_id": t["id"], "user_id": user["id"], "conversation_id": PAYLOAD},
        role="integration",
    ).json
    assert "id" in wf, wf
    r = api.put(
        f"/api/workflows/{wf['id']}",
        {"state_data": {"applicant": PAYLOAD, "secret": PAYLOAD, "choice": PAYLOAD, "homepage": JS_URL}},
        role="integration",
    )
    assert r.status_code == 200, r.json
    second = api.post(
        "/api/workflows", {"template_id": t["id"], "user_id": user["id"], "conversation_id": "c2"}, role="integration"
    ).json
    api.put(f"/api/workflows/{second['id']}", {"status": "cancelled", "reason": PAYLOAD})
    admin = Staff(app, "admin")
    admin.post("/admin/tokens", {"name": PAYLOAD[:100], "role": "viewer"})
    return dict(template=t, workflow=wf, cancelled=second, admin=admin)


def pages(h):
    name, wid = h["template"]["name"], h["workflow"]["id"]
    return [
        "/overview/",
        "/overview/live",
        "/analytics/",
        f"/analytics/{name}",
        "/workflow-templates/",
        f"/workflow-templates/{name}",
        f"/workflow-templates/{name}/versions",
        f"/workflow-templates/{name}/versions/1",
        f"/workflow-templates/{name}/diff?from=1&to=2",
        f"/workflow-templates/{name}/edit",
        f"/workflow-templates/{name}/tool",
        f"/workflow-templates/{name}/clone",
        "/permissions/",
        "/workflows/",
        "/workflows/live",
        f"/workflows/{wid}",
        f"/workflows/{wid}/timeline",
        f"/workflows/{wid}/form",
        f"/workflows/{wid}/live",
        f"/workflows/{h['cancelled']['id']}",
        f"/workflows/?field=applicant&value={SCRIPT}&match=contains",
        "/admin/audit",
        "/admin/tokens",
    ]


def assert_inert(body: str, where: str) -> None:
    low = body.lower()
    assert "<script>window.__xss" not in low, where
    assert "<img src=x" not in low, where
    assert not re.search(r"""(href|src|action|formaction|hx-get|hx-post)\s*=\s*["']?\s*javascript:""", low), where
    assert ' onmouseover="window.__xss' not in low and 'onerror="window.__xss' not in low, where
    assert '<b hx-get="/logout"' not in low, where
    assert "42042" not in body.replace("% print 42042 %", ""), where  # template syntax was not run


def test_payloads_are_text_on_every_page(hostile):
    admin = hostile["admin"]
    shown = 0
    for path in pages(hostile):
        for htmx in (False, True):
            r = admin.get(path, htmx=htmx)
            assert r.status_code in (200, 204, 286), (path, r.status_code)
            body = text(r)
            assert_inert(body, f"{path} htmx={htmx}")
            if "&lt;script&gt;window.__xss=1&lt;/script&gt;" in body:
                shown += 1
    # the payloads do reach the pages (escaped), so the checks above looked at them
    assert shown >= 15


def test_previews_and_exports_keep_payloads_as_data(hostile):
    admin = hostile["admin"]
    name = hostile["template"]["name"]
    r = admin.get(f"/workflow-templates/{name}/export")
    assert r.mimetype == "application/json" and r.headers["X-Content-Type-Options"] == "nosniff"
    exported = json.loads(text(r))
    assert exported["guidelines"] == PAYLOAD  # exported as the very text, not altered and not run
    assert "sensitive" in json.dumps(exported) and PAYLOAD not in json.dumps(exported.get("workflows", []))
    # the builder's live preview of a form carrying the payloads
    r = admin.post(
        "/workflow-templates/-/new/preview",
        {
            "name": "preview_me",
            "description": PAYLOAD,
            "guidelines": PAYLOAD,
            "f-0-key": "x",
            "f-0-type": "string",
            "f-0-title": PAYLOAD,
            "f-0-description": PAYLOAD,
        },
        htmx=True,
    )
    assert r.status_code in (200, 422)
    assert_inert(text(r), "preview")
    # the API answers JSON, never HTML
    for path in (f"/api/workflow-templates/{name}", f"/api/workflows/{hostile['workflow']['id']}/context"):
        r = hostile["admin"].client.get(path)
        assert r.mimetype in ("application/json", "application/problem+json")


def test_viewer_pages_mask_and_stay_inert(app, hostile):
    viewer = Staff(app, "viewer")
    body = text(viewer.get(f"/workflows/{hostile['workflow']['id']}"))
    assert_inert(body, "viewer detail")
    assert "••••" in body


@pytest.mark.browser
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_no_payload_script_runs_in_chromium(app, hostile, live_server, browser):
    make_staff(app, "xss_admin", "admin")
    ran, dialogs = [], []
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/login")
    page.fill("#username", "xss_admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(overview|workflow-templates)/.*"))
    for path in pages(hostile):
        if "/live" in path:
            continue
        page.goto(path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(150)  # let htmx process what it would (hx-trigger="load")
        value = page.evaluate("() => window.__xss")
        if value is not None:
            ran.append((path, value))
        assert "/login" not in page.url, f"{path} signed us out: an htmx payload ran"
    # the payload is visible as text, where an author wrote it
    page.goto(f"/workflows/{hostile['workflow']['id']}")
    assert SCRIPT in page.inner_text("main")
    context.close()
    assert not ran and not dialogs, (ran, dialogs)


def test_payloads_in_urls_are_inert_on_error_pages(app):
    admin = Staff(app, "admin")
    for path in (
        "/workflows/%3Cscript%3Ewindow.__xss=1%3C%2Fscript%3E",
        "/workflow-templates/%3Cscript%3Ewindow.__xss=1%3C%2Fscript%3E",
        "/analytics/%3Cimg%20src=x%20onerror=window.__xss=2%3E",
        "/login?next=javascript:window.__xss=3",
    ):
        for htmx in (False, True):
            r = admin.get(path, htmx=htmx)
            assert r.status_code in (200, 302, 404), (path, r.status_code)
            assert_inert(text(r), path)
    api_answer = admin.client.get("/api/workflows/%3Cscript%3E")
    assert api_answer.mimetype == "application/problem+json"
