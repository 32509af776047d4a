"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright), as a new
operator and admin meet it: the builder's live preview without htmx errors, the read-only name
that stays, a refused erasure that says why, the token's copy button, the timeline's step in the
address bar, and phones (390x844): no sideways scrolling, a folding menu, an incident read and
retried. Screenshots at 1280x800 and 390x844 go to test-output/."""

import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from browser_support import needs_chromium
from pages_support import PASSWORD, make_staff

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "title": "Purpose"},
    "consent": {"type": "boolean", "title": "Marketing consent"},
    "phone": {"type": "string", "title": "Phone number", "pattern": r"^\+44[0-9 ]+$", "examples": ["+44 20 7946 0958"]},
}

pytestmark = [pytest.mark.browser, needs_chromium]


class Console:
    """Every console error and page error of a page (htmx logs its own errors there)."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", lambda d: d.accept())  # hx-confirm


def open_page(browser, live_server, username, viewport=DESKTOP, **context_kw):
    context = browser.new_context(viewport=viewport, base_url=live_server.url, **context_kw)
    page = context.new_page()
    page.set_default_timeout(10_000)
    console = Console(page)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/overview/")
    return page, console


def settled(page):
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def no_sideways_scroll(page):
    # measured once the page has its stylesheet (a loaded machine may show the rows before it)
    page.wait_for_load_state("load")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width == page.viewport_size["width"], f"{page.url}: the page is {width}px wide"


def shot(page, name):
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def test_admin_builds_a_yes_no_field_edits_and_meets_refusals(app, api, live_server, browser, make_workflow_template):
    expect = pytest.importorskip("playwright.sync_api").expect
    make_staff(app, "ada", "admin")
    page, console = open_page(browser, live_server, "ada", permissions=["clipboard-read", "clipboard-write"])

    # a new template: the live preview runs on every keystroke, and logs no htmx error
    page.goto("/workflow-templates/-/new")
    page.fill("#name", "newsletter")
    page.fill("#description", "Newsletter sign-up")
    page.click("#add-field")
    page.wait_for_selector("#f-0-key")
    settled(page)
    page.fill("#f-0-key", "consent")
    page.select_option("#f-0-type", "boolean")
    expect(page.locator("#f-0-type")).to_have_value("boolean")
    settled(page)
    page.fill("#f-0-title", "Marketing consent")
    expect(page.locator("#preview-form")).to_contain_text("Marketing consent")
    settled(page)
    # one yes/no control, three states, no text box beside it
    expect(page.locator("[id=preview-consent]")).to_have_count(1)
    expect(page.locator("select#preview-consent option")).to_have_text(["— not set —", "yes", "no"])
    page.fill("#f-0-key", "first name")  # a space: refused beside the field
    expect(page.locator("#f-0-errors")).to_contain_text("ASCII letters", timeout=5000)
    page.fill("#f-0-key", "consent")
    expect(page.locator("#f-0-errors")).to_be_empty()
    settled(page)
    assert not [e for e in console.errors if "oobErrorNoTarget" in e or "htmx" in e.lower()], console.errors
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/workflow-templates/newsletter$"))

    # editing: the read-only name stays through builder actions
    make_workflow_template(name="loan_application", state_schema=SCHEMA)
    page.goto("/workflow-templates/loan_application/edit")
    expect(page.locator("#name")).to_have_value("loan_application")
    page.click("#add-field")
    page.wait_for_selector("#f-4-key")
    settled(page)
    expect(page.locator("#name")).to_have_value("loan_application")
    page.select_option("#f-4-type", "integer")
    settled(page)
    expect(page.locator("#name")).to_have_value("loan_application")
    page.goto("/workflow-templates/loan_application/edit")
    page.wait_for_selector("#preview-form")
    shot(page, "template-editor-1280")
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("#preview-form")
    no_sideways_scroll(page)
    shot(page, "template-editor-390")
    page.set_viewport_size(DESKTOP)

    # erasing an unknown end user says so
    page.goto("/admin/privacy")
    page.fill("#erase-user", "nobody-here")
    page.click("#privacy-page button[type=submit]")
    expect(page.locator("#privacy-page [role=alert]")).to_contain_text("nobody-here", timeout=5000)

    # a new token: viewer unless chosen; its secret copies with one click
    page.goto("/admin/tokens")
    expect(page.locator("#token-role")).to_have_value("viewer")
    page.fill("#token-name", "reporting")
    page.click("#tokens-page form.row button[type=submit]")
    secret = page.locator("#new-token-secret")
    expect(secret).to_be_visible()
    expect(page.locator("#new-token h2")).to_contain_text("viewer")
    page.click("#copy-token")
    expect(page.locator("#copy-token")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret.inner_text()

    # a refusal answered by the bare error page (a 404 here: the token went meanwhile) says so
    page.evaluate(
        """() => { const f = document.querySelector('#token-1 form');
                   f.setAttribute('hx-post', f.getAttribute('hx-post').replace(/\\d+\\/revoke/, '999999/revoke'));
                   htmx.process(f); }"""
    )
    page.click("#token-1 button.danger")
    expect(page.locator("#flash [role=alert]")).to_contain_text("nothing at this address")
    page.goto("/admin/tokens")
    page.click("#token-1 button.danger")
    page.wait_for_selector("#token-1 .badge.inactive")
    assert not [e for e in console.errors if "Content Security Policy" in e], console.errors


def test_an_operator_on_a_phone_reads_and_retries_an_incident(app, api, live_server, browser, make_workflow):
    from wfapp.extensions import db as _db
    from wfapp.models import Job, JobStatus

    expect = pytest.importorskip("playwright.sync_api").expect
    make_staff(app, "olivia", "operator")
    wf = make_workflow(
        state_schema=SCHEMA,
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans/apply/with/a/long/path", "method": "POST"},
    )
    other = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}, "status": "completed"})
    with app.app_context():
        job = _db.session.scalar(sa.select(Job).where(Job.workflow_id == uuid.UUID(wf["id"])))
        job.status, job.attempts = JobStatus.DEAD, 8
        job.last_error = "HTTP 400 from https://bank.example/loans/apply/with/a/long/path: amount rejected by the bank"
        _db.session.commit()
    api.put(f"/api/workflows/{other['id']}", {"state_data": {"amount": 5000}})

    page, console = open_page(browser, live_server, "olivia", viewport=PHONE)

    # the overview: no sideways scrolling, the menu folds
    page.wait_for_selector("#status-tiles")
    no_sideways_scroll(page)
    expect(page.locator("#nav-toggle")).to_be_visible()
    expect(page.locator("#main-nav")).to_be_hidden()
    shot(page, "overview-390")
    page.click("#nav-toggle")
    expect(page.locator("#main-nav")).to_be_visible()
    expect(page.locator("#nav-toggle")).to_have_attribute("aria-expanded", "true")
    no_sideways_scroll(page)
    shot(page, "nav-open-390")
    page.click("#main-nav >> text=Workflows")

    # the monitor: the table scrolls inside itself, the page does not
    page.wait_for_selector(f"#wf-{wf['id']}")
    no_sideways_scroll(page)
    table = page.locator("#monitor-table")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth"), "the wide table scrolls inside itself"
    shot(page, "monitor-390")

    # the incident: read it and retry it
    page.goto(f"/workflows/{wf['id']}")
    page.wait_for_selector("#end-action-panel")
    no_sideways_scroll(page)
    expect(page.locator("#end-action-panel")).to_contain_text("amount rejected by the bank")
    shot(page, "workflow-incident-390")
    page.click("#end-action-panel button:has-text('Retry')")
    expect(page.locator("#flash")).to_contain_text("queued again")
    no_sideways_scroll(page)

    # an open workflow on the phone: the form, the yes/no choice, the timeline
    page.goto(f"/workflows/{other['id']}")
    page.wait_for_selector("#state-form")
    no_sideways_scroll(page)
    page.select_option("#state-consent", "false")
    page.fill("#state-phone", "0207 946 0958")
    page.click("#save-state")
    expect(page.locator("#state-phone-error")).to_have_text("must look like: +44 20 7946 0958")
    page.fill("#state-phone", "+44 20 7946 0958")
    page.click("#save-state")
    expect(page.locator("#state-panel [role=status]")).to_contain_text("Marketing consent")
    expect(page.locator("#stepper tr[data-field=consent] td").first).to_have_text("no", timeout=8000)
    no_sideways_scroll(page)
    shot(page, "workflow-390")
    assert not [e for e in console.errors if "Content Security Policy" in e], console.errors


def test_desktop_screens_and_the_step_in_the_address_bar(app, api, live_server, browser, make_workflow):
    expect = pytest.importorskip("playwright.sync_api").expect
    make_staff(app, "otto", "operator")
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}})
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car", "consent": True}})
    page, console = open_page(browser, live_server, "otto")
    page.wait_for_selector("#status-tiles")
    expect(page.locator("#nav-toggle")).to_be_hidden()
    expect(page.locator("#recent-activity")).to_contain_text(wf["id"][:8])
    shot(page, "overview-1280")
    page.goto("/workflows/")
    page.wait_for_selector(f"#wf-{wf['id']}")
    shot(page, "monitor-1280")

    page.goto(f"/workflows/{wf['id']}")
    expect(page.locator("#step-position")).to_contain_text("Step 3 of 3")
    page.click("#step-prev")
    expect(page.locator("#step-position")).to_contain_text("Step 2 of 3")
    expect(page).to_have_url(re.compile(rf"/workflows/{wf['id']}\?step=2$"))
    shot(page, "workflow-1280")
    # the address opens that step
    page.reload()
    expect(page.locator("#step-position")).to_contain_text("Step 2 of 3")
    # and the history downloads as JSON
    with page.expect_download() as info:
        page.click("#history-download")
    assert info.value.suggested_filename == f"workflow-{wf['id']}-history.json"
    assert not [e for e in console.errors if "Content Security Policy" in e or "htmx" in e.lower()], console.errors
