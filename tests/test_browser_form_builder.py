"""In a real browser (Debian's Chromium, headless, driven by Playwright): an admin builds a
loan_application by clicking and typing, saves it, changes it into version 2, reads the diff and
grants it in the permissions grid; the API then serves both. Screenshots go to test-output/."""

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import CHROMIUM
from pages_support import PASSWORD, make_staff

OUTPUT = Path(os.environ.get("WFAPP_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")]


@pytest.fixture
def page(live_server, browser):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    # CSP violations and script errors show up here
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def settled(page):
    """Wait until no htmx request is in flight (a re-render would replace what is typed next)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def add_field(page, i, key, type_):
    from playwright.sync_api import expect

    page.click("#add-field")
    page.wait_for_selector(f"#f-{i}-key")
    settled(page)
    page.fill(f"#f-{i}-key", key)
    if type_ != "string":
        page.select_option(f"#f-{i}-type", type_)
        # the row is re-rendered with the constraints of its type
        expect(page.locator(f"#f-{i}-type")).to_have_value(type_)
        settled(page)


def test_admin_builds_versions_and_grants_a_loan_application(app, page, api, make_user_type):
    from playwright.sync_api import expect

    make_staff(app, "alice", "admin")
    make_user_type("premium_users", name="Premium users")

    page.goto("/workflow-templates/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Workflow templates")

    page.click("text=New workflow template")
    page.fill("#name", "loan_application")
    page.fill("#category-input", "fintech")
    page.fill("#description", "Personal loan application")

    # an enum
    add_field(page, 0, "purpose", "enum")
    page.wait_for_selector("#f-0-choices")
    page.fill("#f-0-choices", "home\ncar\nstudy")
    page.check("#f-0-required")
    expect(page.locator("#preview-purpose option[value=car]")).to_have_count(1)

    # a number with a minimum
    add_field(page, 1, "amount", "number")
    page.wait_for_selector("#f-1-minimum")
    page.fill("#f-1-title", "Loan amount")
    page.fill("#f-1-minimum", "1000")
    page.check("#f-1-required")
    expect(page.locator("#preview-amount")).to_have_attribute("min", "1000")
    expect(page.locator("#preview-schema")).to_contain_text('"minimum": 1000')

    # a required string
    add_field(page, 2, "full_name", "string")
    page.check("#f-2-required")
    expect(page.locator("#preview-full_name")).to_have_count(1)

    # an optional email; first a mistake: a duplicate key shows beside the field
    add_field(page, 3, "amount", "email")
    expect(page.locator("#f-3-errors")).to_contain_text("duplicate key")
    page.fill("#f-3-key", "email")
    expect(page.locator("#f-3-errors")).to_be_empty()
    expect(page.locator("#preview-email")).to_have_attribute("type", "email")
    expect(page.locator("#preview-form .field")).to_have_count(4)
    page.fill("#guidelines", "Ask for the amount first, then the purpose.")
    expect(page.locator("#preview-context")).to_contain_text("Ask for the amount first")
    page.screenshot(path=str(OUTPUT / "builder.png"), full_page=True)

    page.click("#save")
    expect(page).to_have_url(re.compile(r"/workflow-templates/loan_application$"))
    expect(page.locator(".flash-success")).to_contain_text("version 1")

    # version 2: a higher minimum
    page.click("text=Edit (new version)")
    page.wait_for_selector("#f-1-minimum")
    page.fill("#f-1-minimum", "2000")
    page.fill("#change_note", "raise the minimum to 2000")
    page.click("#save")
    expect(page.locator(".flash-success")).to_contain_text("version 2")

    page.click("nav.tabs >> text=Versions")
    expect(page.locator("#version-2")).to_contain_text("raise the minimum to 2000")
    expect(page.locator("#version-2")).to_contain_text("staff:alice")
    page.click("#version-2 >> text=diff with 1")
    expect(page.locator("#diff-state_schema .del")).to_contain_text(["1000"])
    expect(page.locator("#diff-state_schema .add")).to_contain_text(["2000"])
    page.screenshot(path=str(OUTPUT / "diff.png"), full_page=True)

    # the grid: one click grants
    page.click("nav[aria-label=Main] >> text=Permissions")
    cell = page.locator("button.grant[data-template=loan_application][data-user-type=premium_users]")
    expect(cell).to_have_attribute("aria-pressed", "false")
    cell.click()
    expect(
        page.locator("button.grant[data-template=loan_application][data-user-type=premium_users]")
    ).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(OUTPUT / "permissions-grid.png"), full_page=True)

    t = api.get("/api/workflow-templates/loan_application").json
    assert t["version"] == 2
    assert list(t["state_schema"]) == ["purpose", "amount", "full_name", "email"]
    assert t["state_schema"]["amount"]["minimum"] == 2000
    assert t["state_schema"]["purpose"] == {"type": "enum", "required": True, "choices": ["home", "car", "study"]}
    assert "required" not in t["state_schema"]["email"]
    perms = api.get("/api/permissions").json
    items = perms["items"] if isinstance(perms, dict) else perms
    assert [(p["user_type_id"], p["workflow_template_id"]) for p in items] == [("premium_users", t["id"])]


def test_the_editor_keeps_unsaved_work_across_a_reload_and_focuses_a_new_field(app, page):
    from playwright.sync_api import expect

    make_staff(app, "bob", "admin")
    page.goto("/login")
    page.fill("#username", "bob")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto("/workflow-templates/-/new")
    page.fill("#name", "kept_draft")
    page.click("#add-field")
    page.wait_for_selector("#f-0-key")
    settled(page)
    expect(page.locator("#f-0-key")).to_be_focused()
    page.keyboard.type("amount")  # typed where the focus is: the new field's key
    page.fill("#description", "Typed, not saved")
    page.click("#add-field")
    page.wait_for_selector("#f-1-key")
    settled(page)
    expect(page.locator("#f-1-key")).to_be_focused()

    prompts = []

    def answer(dialog):
        prompts.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    page.reload()
    expect(page.locator("#draft-notice")).to_contain_text("Unsaved changes restored")
    expect(page.locator("#description")).to_have_value("Typed, not saved")
    expect(page.locator("#f-0-key")).to_have_value("amount")
    expect(page.locator("#f-1-key")).to_be_visible()  # the added rows come back too
    assert prompts == ["beforeunload"]  # leaving unsaved work asked first

    # discarding goes back to what is saved (nothing, for a new template)
    page.click("#draft-discard")
    expect(page.locator("#description")).to_have_value("")
    expect(page.locator("#draft-notice")).to_be_hidden()
    expect(page.locator("#f-0-key")).to_have_count(0)

    # a successful save forgets the draft, and leaves without asking
    page.fill("#name", "kept_draft")
    page.fill("#description", "Saved this time")
    page.click("#add-field")
    page.wait_for_selector("#f-0-key")
    settled(page)
    page.keyboard.type("amount")
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/workflow-templates/kept_draft$"))
    page.goto("/workflow-templates/-/new")
    expect(page.locator("#description")).to_have_value("")
    expect(page.locator("#draft-notice")).to_be_hidden()
    assert prompts == ["beforeunload"]
