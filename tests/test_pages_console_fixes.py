"""What a new operator meets in the first ten minutes on the dashboard: yes/no fields, the
template editor's name, stale notices, refusals, the monitor's pager, the template page's
wording, timestamps, recent activity, field keys, token defaults, field titles and regex
messages, the timeline's address and the history download."""

import html
import json
import re
import uuid
from datetime import timedelta

import sqlalchemy as sa
from pages_support import HX, csrf_from, text

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, Workflow, WorkflowEvent

SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "title": "Purpose", "examples": ["Mum's car"]},
    "consent": {"type": "boolean", "title": "Marketing consent"},
    "phone": {
        "type": "string",
        "title": "Phone number",
        "pattern": r"^\+44[0-9 ]+$",
        "examples": ["+44 20 7946 0958"],
        "description": "A UK number, with its country code",
    },
    "national_id": {"type": "string", "sensitive": True, "title": "National id"},
}


def form_data(body: str, **values) -> dict:
    data = {
        "etag": html.unescape(re.search(r'name="etag" value="([^"]*)"', body).group(1)),
        "base_seq": re.search(r'name="base_seq" value="([^"]*)"', body).group(1),
    }
    data.update({f"state-{k}": v for k, v in values.items()})
    return data


# ------------------------------------------------------------------------------ 1. yes/no


def test_a_yes_no_field_is_one_three_state_control_and_stays_unset_until_set(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    body = text(operator.get(f"/workflows/{wf['id']}"))
    # one control, no second text input sharing its id and name
    assert body.count('id="state-consent"') == 1
    assert body.count('name="state-consent"') == 1
    assert re.search(r'<select id="state-consent" name="state-consent"', body)
    assert re.search(r'<option value="" selected|<option value="">— not set —', body)

    # a save that does not touch it leaves it unset
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(body, amount="2000", consent=""), htmx=True)
    assert r.status_code == 200, text(r)
    assert "consent" not in api.get(f"/api/workflows/{wf['id']}").json["state_data"]
    assert "False" not in text(r)

    # set to no: stored as false, shown as "no" in the form, the data panel and the timeline
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(text(r), consent="false"), htmx=True)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"]["consent"] is False
    assert re.search(r'<option value="false" selected>no</option>', text(r))
    assert "False" not in text(r)
    # another save leaves it as it is
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(text(r), purpose="Car", consent="false"), htmx=True)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"]["consent"] is False
    timeline = text(operator.get(f"/workflows/{wf['id']}/timeline", htmx=True))
    assert re.search(r'data-field="consent">\s*<th[^>]*>Marketing consent[^<]*</th>\s*<td>no</td>', timeline)
    assert "False" not in timeline


def test_the_builder_preview_and_template_page_show_one_yes_no_control(admin, make_workflow_template):
    make_workflow_template(name="with_consent", state_schema=SCHEMA)
    body = text(admin.get("/workflow-templates/with_consent"))
    assert body.count('id="preview-consent"') == 1 and body.count('name="preview-consent"') == 1


# ------------------------------------------------------------------------------ 2. editor name


def test_the_read_only_name_stays_after_builder_actions(admin, make_workflow_template):
    make_workflow_template(name="loan_application", state_schema={"amount": {"type": "number"}})
    page = text(admin.get("/workflow-templates/loan_application/edit"))
    assert re.search(r'id="name" value="loan_application" readonly', page)
    form = {
        "schema_mode": "builder",
        "deps_mode": "builder",
        "ea_mode": "builder",
        "f-0-key": "amount",
        "f-0-type": "number",
        "end_action_type": "none",
    }
    for op in ("add_field", "down:0", "refresh"):
        r = admin.post("/workflow-templates/loan_application/edit/op", dict(form, op=op), htmx=True)
        assert r.status_code == 200, text(r)
        assert re.search(r'id="name" value="loan_application" readonly', text(r)), op
    r = admin.post("/workflow-templates/loan_application/edit/preview", form, htmx=True)
    assert 'id="err-name"' in text(r) and "is required" not in text(r)


# ------------------------------------------------------------------------------ 3. stale boxes


def test_the_cannot_complete_box_goes_once_the_fields_are_saved(operator, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = operator.post(f"/workflows/{wf['id']}/status", {"status": "completed"}, htmx=True)
    assert r.status_code == 422 and "cannot complete" in text(r)
    body = text(operator.get(f"/workflows/{wf['id']}"))
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(body, amount="2000", purpose="Car"), htmx=True)
    assert r.status_code == 200
    actions = re.search(r'<section id="wf-actions"[^>]*hx-swap-oob="true".*?</section>', text(r), re.S)
    assert actions, "the complete/cancel card comes again with the save"
    assert "cannot complete" not in actions.group(0) and 'id="complete-workflow"' in actions.group(0)


def test_a_completed_workflow_never_says_its_form_is_stale(app, operator, api, make_workflow):
    wf = make_workflow(
        state_schema=SCHEMA,
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans", "method": "POST"},
    )
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}, "status": "completed"})
    body = text(operator.get(f"/workflows/{wf['id']}"))
    etag = html.unescape(re.search(r'name="etag" value="([^"]*)"', body).group(1))
    # the end action's attempt arrives: an event, so the workflow's ETag moves on
    with app.app_context():
        from wfapp.services.events import record_event

        w = _db.session.get(Workflow, uuid.UUID(wf["id"]))
        record_event(_db.session, w, "end_action_attempt", "outbox", {"attempt": 1, "outcome": "succeeded"})
        w.row_version += 1
        _db.session.commit()
    r = operator.client.get(f"/workflows/{wf['id']}/live", query_string={"etag": etag}, headers=HX)
    assert r.status_code in (200, 286)
    assert "changed after the form was loaded" not in text(r)


def test_the_confirmation_mentions_an_end_action_only_when_there_is_one(operator, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    assert "Its end action will be sent" not in text(operator.get(f"/workflows/{wf['id']}"))
    other = make_workflow(
        state_schema=SCHEMA,
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans", "method": "POST"},
    )
    assert "Its end action will be sent" in text(operator.get(f"/workflows/{other['id']}"))


# ------------------------------------------------------------------------------ 6. small things


def test_the_monitors_next_page_keeps_its_size(operator, make_workflow, make_workflow_template, make_end_user):
    user = make_end_user()
    t = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    for _ in range(3):
        make_workflow(template=t, user=user)
    body = text(operator.get("/workflows/?limit=2"))
    assert body.count('<tr id="wf-') == 2
    next_url = re.search(r'href="([^"]*cursor=[^"]*)"[^>]*rel="next"', body).group(1).replace("&amp;", "&")
    assert "limit=2" in next_url
    assert text(operator.get(next_url)).count('<tr id="wf-') == 1


def test_the_template_page_speaks_in_sentences(admin, make_workflow_template):
    make_workflow_template(name="plain", state_schema=SCHEMA)
    body = text(admin.get("/workflow-templates/plain"))
    fields = re.search(r'<table id="fields-table">.*?</table>', body, re.S).group(0)
    assert "\\u0027" not in fields and "\\\\+" not in fields and "&#34;" not in fields
    assert "pattern: ^\\+44[0-9 ]+$" in fields and "examples: +44 20 7946 0958" in fields
    assert "examples: Mum&#39;s car" in fields
    assert "No dependencies" in body and "No end action" in body
    assert not re.search(r"<pre[^>]*>\s*(\[\]|null)\s*</pre>", body)


def test_waiting_for_shows_a_readable_time(operator, make_workflow, make_workflow_template, make_end_user):
    user = make_end_user()
    make_workflow_template(name="kyc_check", state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    t = make_workflow_template(
        name="loan",
        state_schema=SCHEMA,
        grant_to=[user["user_type_id"]],
        workflow_dependencies=[{"name": "kyc", "type": "workflow", "template": "kyc_check", "when": "on_start"}],
    )
    wf = make_workflow(template=t, user=user)
    facts = re.search(r'<dd id="wf-waiting">.*?</dd>', text(operator.get(f"/workflows/{wf['id']}")), re.S).group(0)
    assert "since " in facts
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", facts), facts


def test_recent_activity_shows_todays_workflows_before_back_dated_ones(app, viewer, make_workflow):
    today = make_workflow(state_schema=SCHEMA)
    old = make_workflow(state_schema=SCHEMA)
    with app.app_context():
        # written later (higher ids), happened days ago: imported or back-dated history
        w = _db.session.get(Workflow, uuid.UUID(old["id"]))
        w.updated_at -= timedelta(days=5)
        for e in _db.session.scalars(sa.select(WorkflowEvent).where(WorkflowEvent.workflow_id == w.id)):
            e.created_at -= timedelta(days=5)
        _db.session.commit()
        from wfapp.services.monitor import recent_activity

        first = recent_activity(_db.session, limit=1)
        assert [str(a.event.workflow_id) for a in first] == [today["id"]]
    body = text(viewer.get("/overview/"))
    activity = re.search(r'<ol class="events" id="recent-activity">.*?</ol>', body, re.S).group(0)
    assert activity.index(today["id"][:8]) < activity.index(old["id"][:8])


def test_field_keys_are_plain_names_in_the_api_too(api):
    for key in ("first name", "prénom", "amount!"):
        r = api.post("/api/workflow-templates", {"name": "bad_keys", "state_schema": {key: {"type": "string"}}})
        assert r.status_code == 422, (key, r.json)
        assert any("ASCII letters" in e["message"] for e in r.json["errors"]), r.json
    r = api.post("/api/workflow-templates", {"name": "good_keys", "state_schema": {"first_name": {"type": "string"}}})
    assert r.status_code == 201


def test_a_new_token_defaults_to_viewer_and_its_secret_has_a_copy_button(admin):
    body = text(admin.get("/admin/tokens"))
    assert re.search(r'<option value="viewer" selected>', body)
    assert not re.search(r'<option value="admin" selected>', body)
    r = admin.post("/admin/tokens", {"name": "reporting"}, htmx=True)
    assert r.status_code == 422  # no role sent: the form always sends one; nothing made
    r = admin.post("/admin/tokens", {"name": "reporting", "role": "viewer"}, htmx=True)
    assert r.status_code == 201
    assert 'data-copy-target="#new-token-secret"' in text(r) and "<script" not in text(r)


def test_the_favicon_is_there(client, viewer):
    body = text(viewer.get("/overview/"))
    href = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', body).group(1)
    r = client.get(href)
    assert r.status_code == 200 and b"<svg" in r.data
    r.close()


# ------------------------------------------------------------------------------ 8. words


def test_messages_use_field_titles_and_explain_patterns_by_example(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"phone": "0207 946 0958"}})
    assert r.status_code == 422
    message = r.json["errors"][0]["message"]
    assert message == "must look like: +44 20 7946 0958" and "[0-9" not in message
    body = text(operator.get(f"/workflows/{wf['id']}"))
    assert ">Collected data<" in body and ">state_data<" not in body
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(body, phone="0207 946 0958"), htmx=True)
    assert r.status_code == 422
    assert re.search(r'id="state-phone-error"[^>]*>must look like: \+44 20 7946 0958<', text(r))
    r = operator.post(f"/workflows/{wf['id']}/status", {"status": "completed"}, htmx=True)
    assert "Loan amount: is required" in text(r) and "Purpose: is required" in text(r)
    assert not re.search(r">amount: ", text(r))


# ------------------------------------------------------------------------------ 9. evidence


def test_the_chosen_step_goes_into_the_address_bar(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}})
    r = operator.get(f"/workflows/{wf['id']}/timeline?step=1", htmx=True)
    assert r.headers.get("HX-Push-Url") == f"/workflows/{wf['id']}?step=1"
    # the timeline following the workflow by itself does not touch the address bar
    r = operator.client.get(f"/workflows/{wf['id']}/timeline", headers={**HX, "HX-Trigger": "stepper"})
    assert "HX-Push-Url" not in r.headers
    # the link opens that step
    assert "Step 1 of 2" in text(operator.get(f"/workflows/{wf['id']}?step=1"))


def test_the_history_downloads_as_json_masked_for_viewers_and_audited(app, operator, viewer, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "national_id": "AB123456C"}})
    r = viewer.get(f"/workflows/{wf['id']}/history.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "attachment" in r.headers["Content-Disposition"]
    doc = json.loads(r.data)
    assert doc["workflow_id"] == wf["id"] and doc["masked"] is True
    assert [e["type"] for e in doc["events"]][:1] == ["started"]
    assert doc["events"][-1]["state_after"]["national_id"] == "••••"
    assert "AB123456C" not in r.get_data(as_text=True)

    def reveals():
        with app.app_context():
            return _db.session.scalars(
                sa.select(AuditEntry).where(
                    AuditEntry.action == "sensitive_revealed", AuditEntry.actor == "staff:operator1"
                )
            ).all()

    before = len(reveals())
    r = operator.get(f"/workflows/{wf['id']}/history.json")
    assert json.loads(r.data)["events"][-1]["state_after"]["national_id"] == "AB123456C"
    after = reveals()
    assert len(after) == before + 1 and after[-1].changes["fields"] == ["national_id"]
    assert after[-1].changes.get("where") == "history download"


def test_an_unknown_end_user_erasure_answers_with_its_reason(admin):
    page = text(admin.get("/admin/privacy"))
    r = admin.post("/admin/privacy/erase", {"user_id": "nobody", "csrf_token": csrf_from(page)}, htmx=True)
    assert r.status_code == 404 and 'role="alert"' in text(r) and 'id="privacy-page"' in text(r)
