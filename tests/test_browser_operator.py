"""An operator at work in a real browser (Debian's Chromium, headless, driven by Playwright):
filter the monitor to waiting workflows, fill a workflow by hand (an invalid value first),
watch the monitor update by itself, step back through the timeline. Screenshots of the monitor,
the detail page and the analytics page go to test-output/."""

import shutil
from pathlib import Path

import pytest
from conftest import CHROMIUM
from pages_support import PASSWORD, make_staff

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "title": "Purpose"},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]


def test_operator_filters_fills_watches_and_steps_back(
    app, api, live_server, browser, make_workflow, make_workflow_template, make_end_user
):
    expect = pytest.importorskip("playwright.sync_api").expect
    OUTPUT.mkdir(exist_ok=True)
    user = make_end_user()
    kyc = make_workflow_template(name="kyc_check", state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    template = make_workflow_template(
        name="loan_application",
        state_schema=SCHEMA,
        grant_to=[user["user_type_id"]],
        workflow_dependencies=[
            {"name": "kyc_verification", "type": "workflow", "template": "kyc_check", "when": "on_start"}
        ],
    )
    busy = make_workflow(template=kyc, user=user, conversation_id="conv-busy")
    waiting = make_workflow(template=template, user=user, conversation_id="conv-waiting")
    assert api.get(f"/api/workflows/{waiting['id']}").json["status"] == "waiting"
    make_staff(app, "olivia", "operator")

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    csp_errors = []
    page.on("console", lambda m: csp_errors.append((page.url, m.text)) if "Content Security Policy" in m.text else None)
    page.goto(live_server.url + "/login")
    page.fill("#username", "olivia")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/overview/")

    # The monitor, filtered to waiting workflows: the filter lands in the address bar.
    page.goto(live_server.url + "/workflows/")
    page.wait_for_selector(f"#wf-{busy['id']}")
    page.check("input[name=status][value=waiting]")
    page.wait_for_selector(f"#wf-{busy['id']}", state="detached")
    assert page.is_visible(f"#wf-{waiting['id']}")
    assert "status=waiting" in page.url
    page.screenshot(path=str(OUTPUT / "monitor.png"), full_page=True)

    # An update made through the API shows up without a reload.
    api.put(f"/api/workflows/{waiting['id']}", {"state_data": {"purpose": "Car"}}, role="integration")
    page.wait_for_selector(f"#wf-{waiting['id']}.changed", timeout=8000)
    page.uncheck("input[name=status][value=waiting]")
    page.wait_for_selector(f"#wf-{busy['id']}")
    newcomer = make_workflow(template=kyc, user=user, conversation_id="conv-new")
    page.wait_for_selector(f"#wf-{newcomer['id']}", timeout=8000)

    # Open the waiting workflow and fill two fields, one of them invalid.
    page.check("input[name=status][value=waiting]")
    page.wait_for_selector(f"#wf-{busy['id']}", state="detached")
    page.click(f"#wf-{waiting['id']} a")
    page.wait_for_selector("#state-form")
    assert "kyc_verification" in page.inner_text("#wf-facts")
    page.fill("#state-amount", "50")
    page.fill("#state-purpose", "Roof repair")
    page.click("#save-state")
    error = page.wait_for_selector("#state-amount-error")
    assert "minimum" in error.inner_text()
    assert page.input_value("#state-purpose") == "Roof repair"  # nothing typed is lost
    page.fill("#state-amount", "5000")
    page.click("#save-state")
    page.wait_for_selector("text=Saved: Loan amount, Purpose")

    got = api.get(f"/api/workflows/{waiting['id']}").json
    assert got["state_data"] == {"amount": 5000, "purpose": "Roof repair"}
    events = api.get(f"/api/workflows/{waiting['id']}/events").json["items"]
    assert events[-1]["type"] == "state_updated" and events[-1]["actor"] == "staff:olivia"
    n = len(events)

    # The timeline follows to the operator's change; one step back is the state before it.
    expect(page.locator("#step-position")).to_contain_text(f"Step {n} of {n}", timeout=8000)
    assert "staff:olivia" in page.inner_text("#stepper h3")
    expect(page.locator("#checklist li.done")).to_have_count(2, timeout=8000)  # the checklist followed the save
    # their own save does not make the form look changed by someone else
    expect(page.locator("#stale-notice")).to_have_count(0)
    page.screenshot(path=str(OUTPUT / "workflow-detail.png"), full_page=True)
    page.click("#step-prev")
    expect(page.locator("#step-position")).to_contain_text(f"Step {n - 1} of {n}", timeout=8000)
    assert page.inner_text("tr[data-field=amount] td") == "—"
    assert page.inner_text("tr[data-field=purpose] td") == "Car"
    assert "staff:olivia" not in page.inner_text("#stepper h3")
    page.click("#step-first")
    expect(page.locator("#step-position")).to_contain_text(f"Step 1 of {n}", timeout=8000)
    page.screenshot(path=str(OUTPUT / "workflow-timeline-step1.png"), full_page=True)

    page.goto(live_server.url + "/analytics/loan_application")
    page.wait_for_selector("#field-stats")
    page.screenshot(path=str(OUTPUT / "analytics.png"), full_page=True)
    page.goto(live_server.url + "/overview/")
    page.wait_for_selector("#status-tiles")
    page.screenshot(path=str(OUTPUT / "overview.png"), full_page=True)
    assert not csp_errors, csp_errors
