"""The operator's console in a real browser (Debian's Chromium via Playwright): the queue (an
incident and a handoff appear, one operator claims them, they disappear once cleared), starting
a workflow, a saved view with a state_data column, a migration dry run and the migration of a
selection. Screenshots at 1280x800 and 390x844 go to test-output/."""

import shutil
import uuid

import pytest
import sqlalchemy as sa
import test_browser_operator as operator_tests  # noqa: E402
from pages_support import PASSWORD, idle_workflows, make_staff
from receivers import FAST, drain

from wfapp.extensions import db as _db
from wfapp.models import Job, Workflow
from wfapp.services import handoff

CHROMIUM, OUTPUT = operator_tests.CHROMIUM, operator_tests.OUTPUT
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
V1 = {"amount": {"type": "number", "required": True, "minimum": 1000}, "purpose": {"type": "string"}}
V2 = {
    "amount": {"type": "number", "required": True, "minimum": 1000},
    "purpose": {"type": "enum", "choices": ["car", "home"]},
}


def sign_in(browser, live_server, username, size="desktop"):
    w, h = SIZES[size]
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(live_server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/overview/")
    return page, errors


def shoot(page, name):
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def test_queue_incident_and_handoff_claimed_and_cleared(
    app,
    api,
    db,
    live_server,
    browser,
    make_workflow,
    make_workflow_template,
):
    expect = pytest.importorskip("playwright.sync_api").expect
    app.config.update(FAST)
    make_workflow_template(name="not_granted")
    dead = make_workflow(end_action_type="start_workflow", end_action_target={"template": "not_granted"})
    api.put(f"/api/workflows/{dead['id']}", {"state_data": {"amount": 5000, "purpose": "x"}, "status": "completed"})
    drain(app, db)
    talk = make_workflow()
    with app.app_context():
        handoff.request_handoff(
            _db.session,
            _db.session.get(Workflow, uuid.UUID(talk["id"])),
            "The user wants to speak to a person",
            "llm",
            "token:chat",
        )
        _db.session.commit()
    make_staff(app, "olivia", "operator")
    make_staff(app, "oscar", "operator")

    page, csp = sign_in(browser, live_server, "olivia")
    expect(page.locator("#attention-count")).to_have_text("2")
    page.click("nav >> text=Needs attention")
    page.wait_for_url("**/attention/")
    incident = page.locator(f"article[data-kind=incident][data-workflow='{dead['id']}']")
    handed = page.locator(f"article[data-kind=handoff][data-workflow='{talk['id']}']")
    expect(incident).to_contain_text("The end action gave up")
    expect(handed).to_contain_text("The LLM asked for a human: The user wants to speak to a person")
    assert handed.locator("time").get_attribute("title").endswith("UTC")
    shoot(page, "attention-desktop")
    incident.locator("button:text('Claim')").click()
    expect(incident.locator(".claimed-by")).to_have_text("staff:olivia")
    handed.locator("button:text('Claim')").click()
    expect(handed.locator(".claimed-by")).to_have_text("staff:olivia")
    page.click("text=Assigned to me")
    expect(page.locator("article.attention-item")).to_have_count(2)

    # a colleague sees them taken, and has nothing assigned
    other, _ = sign_in(browser, live_server, "oscar", size="phone")
    other.goto(live_server.url + "/attention/")
    expect(other.locator(".claimed-by").first).to_have_text("staff:olivia")
    width = other.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] == width[1] == 390, width
    shoot(other, "attention-phone")
    other.goto(live_server.url + "/attention/?who=mine")
    expect(other.locator("#attention-empty")).to_be_visible()
    other.close()

    # clearing: hand the conversation back, retry the job (the dispatcher is off: it stays pending)
    handed.locator("button:text('Hand back to the LLM')").click()
    expect(handed).to_have_count(0)
    incident.locator("button:text('Retry the job')").click()
    expect(incident).to_have_count(0)
    expect(page.locator("#attention-count")).to_have_text("0")
    (job,) = db.scalars(sa.select(Job).where(Job.workflow_id == uuid.UUID(dead["id"])))
    assert job.status == "pending"  # re-armed: due again, with the same idempotency key
    types = [e["type"] for e in api.get(f"/api/workflows/{talk['id']}/events").json["items"]]
    assert types[-3:] == ["handoff_requested", "claimed", "handoff_returned"]
    assert not csp, csp


def test_start_a_workflow_from_the_template_page(
    app, api, live_server, browser, make_workflow_template, make_user_type
):
    expect = pytest.importorskip("playwright.sync_api").expect
    ut = make_user_type(id="retail")
    make_workflow_template(name="loan", state_schema=V1)
    make_staff(app, "olivia", "operator")
    page, csp = sign_in(browser, live_server, "olivia")
    page.goto(live_server.url + "/workflow-templates/loan")
    expect(page.locator("#start-blockers")).to_contain_text("No user type is granted")
    api.post("/api/permissions", {"user_type_id": ut["id"], "workflow_template_id": "loan"})
    page.reload()
    expect(page.locator("#start-panel")).to_contain_text("Ready")
    page.click("#start-from-template")
    page.wait_for_selector("#start-form")
    assert page.input_value("#s-template") == "loan"
    page.fill("#s-user", "ann")
    page.click("#start-submit")  # ann is not registered yet
    expect(page.locator("#s-user-error")).to_contain_text("no end user 'ann'")
    page.check("#s-new-user")
    page.select_option("#s-type", "retail")
    page.fill("#s-conv", "conv-from-browser")
    shoot(page, "start-workflow")
    page.click("#start-submit")
    page.wait_for_selector("#state-form")
    expect(page.locator("#wf-facts")).to_contain_text("conv-from-browser")
    items = api.get("/api/workflows?conversation_id=conv-from-browser").json["items"]
    assert len(items) == 1 and items[0]["user_id"] == "ann" and items[0]["template_name"] == "loan"
    assert not csp, csp


def test_saved_view_with_a_state_data_column(app, api, live_server, browser, make_workflow, make_workflow_template):
    expect = pytest.importorskip("playwright.sync_api").expect
    t = make_workflow_template(name="loan", state_schema=V1)
    wf = make_workflow(template=t)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Roof repair"}}, role="integration")
    make_workflow()  # another template
    make_staff(app, "olivia", "operator")
    page, csp = sign_in(browser, live_server, "olivia")
    page.goto(live_server.url + "/workflows/")
    page.select_option("#f-template", "loan")
    page.wait_for_url("**template=loan**")
    assert "user_id=" not in page.url  # empty fields stay out of the URL
    page.click("#more-filters summary")
    page.check("#column-picker input[value=purpose]")
    page.wait_for_url("**cols=purpose**")
    expect(page.locator(f"#wf-{wf['id']} td.state-col")).to_have_text("Roof repair")
    expect(page.locator("#monitor-total")).to_contain_text("1 workflow matches")
    page.fill("#save-view-name", "Loans with purpose")
    page.check("#save-view-default")
    page.click("#save-view-form button[type=submit]")
    page.wait_for_selector("text=Saved the view Loans with purpose")
    # the default view applies when the monitor opens without arguments
    page.goto(live_server.url + "/workflows/")
    page.wait_for_url("**cols=purpose**")
    expect(page.locator(f"#wf-{wf['id']} td.state-col")).to_have_text("Roof repair")
    shoot(page, "monitor-saved-view")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "monitor-saved-view-phone")
    assert not csp, csp


def test_migration_dry_run_and_migrate_a_selection(
    app, api, live_server, browser, make_end_user, make_workflow_template
):
    expect = pytest.importorskip("playwright.sync_api").expect
    user = make_end_user()
    make_workflow_template(name="loan", state_schema=V1, grant_to=[user["user_type_id"]])
    ids = {}
    for conv, purpose in (("c-car", "car"), ("c-boat", "boat"), ("c-home", "home")):
        r = api.post(
            "/api/workflows",
            {"template_id": "loan", "user_id": user["id"], "conversation_id": conv},
            role="integration",
        )
        api.put(
            f"/api/workflows/{r.json['id']}", {"state_data": {"amount": 5000, "purpose": purpose}}, role="integration"
        )
        ids[purpose] = r.json["id"]
    assert api.put("/api/workflow-templates/loan", {"state_schema": V2}).json["version"] == 2
    make_staff(app, "olivia", "operator")
    page, csp = sign_in(browser, live_server, "olivia")
    page.goto(live_server.url + "/workflows/?template=loan")
    for purpose in ("car", "boat"):
        page.check(f"#sel-{ids[purpose]}")
    page.click("#bulk-migrate")
    page.wait_for_selector("#migrate-form")
    assert page.input_value("#m-from") == "1" and page.input_value("#m-to") == "2"
    page.click("#dry-run")
    expect(page.locator(f"#plan-{ids['car']} .outcome")).to_have_text("can migrate")
    expect(page.locator(f"#plan-{ids['boat']} .outcome")).to_contain_text("refused")
    expect(page.locator(f"#plan-{ids['boat']}")).to_contain_text("purpose")
    expect(page.locator(f"#plan-{ids['home']}")).to_have_count(0)  # not selected
    shoot(page, "migration-dry-run")
    page.click("#migrate-passing")
    expect(page.locator(f"#plan-{ids['car']} .outcome")).to_have_text("migrated")
    expect(page.locator("#flash")).to_contain_text("Migrated 1 workflow(s) to version 2")
    versions = {p: api.get(f"/api/workflows/{w}").json["template_version"] for p, w in ids.items()}
    assert versions == {"car": 2, "boat": 1, "home": 1}
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "migration-phone")
    assert not csp, csp


def test_a_long_queue_reads_99_plus_in_the_navigation(app, live_server, browser, make_workflow):
    """At 100 items the navigation's count stops counting: `99+`, on a desktop and on a phone."""
    expect = pytest.importorskip("playwright.sync_api").expect
    idle_workflows(app, make_workflow, 101)
    make_staff(app, "operator", "operator")
    for size in SIZES:
        page, errors = sign_in(browser, live_server, "operator", size)
        page.goto(live_server.url + "/attention/")
        expect(page.locator("#attention-count")).to_have_text("99+")
        assert page.locator("#attention-count").get_attribute("aria-label") == "more than 99 items"
        if size == "phone":
            page.click("#nav-toggle")  # the folded menu holds the count
            expect(page.locator("#attention-count")).to_be_visible()
        OUTPUT.mkdir(exist_ok=True)  # the top of the page: the navigation and the first items
        page.screenshot(path=str(OUTPUT / f"attention-99-plus-{size}.png"))
        assert not errors, errors
