"""The workflows monitor and the workflow detail page: filters in the URL, keyset pages, live
polls (204 / 286), the operator's form with If-Match conflicts, the timeline stepper, roles."""

import re

import sqlalchemy as sa
from pages_support import HX, Staff, is_fragment, text

from wfapp.models import AuditEntry

SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "title": "Purpose"},
    "national_id": {"type": "string", "sensitive": True, "title": "National id"},
}


def etag_of(html: str) -> str:
    m = re.search(r'name="etag" value="([^"]+)"', html)
    assert m, "no etag in the form"
    return m.group(1).replace("&#34;", '"').replace("&quot;", '"')


def base_seq_of(html: str) -> str:
    return re.search(r'name="base_seq" value="(\d+)"', html).group(1)


def form_data(page_html: str, **values) -> dict:
    data = {"etag": etag_of(page_html), "base_seq": base_seq_of(page_html)}
    data.update({f"state-{k}": v for k, v in values.items()})
    return data


def test_monitor_full_page_and_fragment(operator, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = operator.get("/workflows/")
    assert r.status_code == 200 and not is_fragment(r)
    body = text(r)
    assert wf["id"][:8] in body and 'id="monitor-results"' in body and 'hx-trigger="every' in body
    r = operator.get("/workflows/", htmx=True)
    assert r.status_code == 200 and is_fragment(r) and wf["id"][:8] in text(r)
    assert "HX-Request" in r.headers["Vary"]


def test_monitor_filters_use_the_api_names_and_stay_in_the_url(
    operator, api, make_workflow, make_workflow_template, make_end_user
):
    user = make_end_user()
    t1 = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    t2 = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    a = make_workflow(template=t1, user=user, conversation_id="conv-a")
    b = make_workflow(template=t2, user=user, conversation_id="conv-b")
    api.put(f"/api/workflows/{a['id']}", {"state_data": {"purpose": "Home improvement"}})
    api.put(f"/api/workflows/{b['id']}", {"status": "cancelled", "reason": "test"})

    body = text(operator.get(f"/workflows/?template={t1['name']}"))
    assert a["id"][:8] in body and b["id"][:8] not in body
    body = text(operator.get("/workflows/?status=cancelled"))
    assert b["id"][:8] in body and a["id"][:8] not in body
    body = text(operator.get("/workflows/?status=active&status=cancelled"))  # check boxes repeat the name
    assert a["id"][:8] in body and b["id"][:8] in body
    body = text(operator.get("/workflows/?conversation_id=conv-b"))
    assert b["id"][:8] in body and a["id"][:8] not in body
    body = text(operator.get("/workflows/?field=purpose&value=improve&match=contains"))
    assert a["id"][:8] in body and b["id"][:8] not in body
    body = text(operator.get("/workflows/?field=purpose&value=Home+improvement"))
    assert a["id"][:8] in body and b["id"][:8] not in body
    # the filters are in the live poll's URL too, so the refreshed list keeps them
    assert re.search(r'hx-get="/workflows/live\?[^"]*field=purpose', body)
    # a broken filter is explained, and shows nothing rather than everything
    r = operator.get("/workflows/?status=bogus")
    assert r.status_code == 200 and "bogus" in text(r) and a["id"][:8] not in text(r)
    # b was cancelled after a's last update
    body = text(operator.get("/workflows/?sort=stale_interaction"))
    assert body.index(a["id"][:8]) < body.index(b["id"][:8])
    body = text(operator.get("/workflows/?sort=recent_interaction"))
    assert body.index(b["id"][:8]) < body.index(a["id"][:8])


def test_monitor_keyset_pages(operator, make_workflow, make_workflow_template, make_end_user):
    user = make_end_user()
    t = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    ids = [make_workflow(template=t, user=user)["id"] for _ in range(5)]
    body = text(operator.get("/workflows/?limit=2"))
    assert ids[4][:8] in body and ids[3][:8] in body and ids[2][:8] not in body
    next_url = re.search(r'href="(/workflows/\?[^"]*cursor=[^"]+)"', body).group(1).replace("&amp;", "&")
    body = text(operator.get(next_url + "&limit=2"))
    assert ids[2][:8] in body and ids[1][:8] in body and ids[4][:8] not in body
    assert "First page" in body


def test_monitor_poll_answers_204_when_nothing_changed_and_highlights_changes(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    body = text(operator.get("/workflows/"))
    live = re.search(r'hx-get="(/workflows/live\?[^"]+)"', body).group(1).replace("&amp;", "&")
    r = operator.get(live, htmx=True)
    assert r.status_code == 204 and r.get_data() == b""
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "car"}}, role="integration")
    r = operator.get(live, htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    assert re.search(rf'id="wf-{wf["id"]}" class="[^"]*changed', text(r))
    new_live = re.search(r'hx-get="(/workflows/live\?[^"]+)"', text(r)).group(1).replace("&amp;", "&")
    assert operator.get(new_live, htmx=True).status_code == 204


def test_detail_page_full_and_fragment(operator, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = operator.get(f"/workflows/{wf['id']}")
    assert r.status_code == 200 and not is_fragment(r)
    body = text(r)
    for expected in (
        "Loan amount",
        "Purpose",
        'name="etag"',
        "Required fields",
        "Timeline",
        "Dependencies",
        "End action",
        wf["conversation_id"],
        wf["user_id"],
        "step-slider",
    ):
        assert expected in body, expected
    r = operator.get(f"/workflows/{wf['id']}", htmx=True)
    assert r.status_code == 200 and is_fragment(r) and 'id="workflow-detail"' in text(r)
    assert operator.get("/workflows/not-a-uuid").status_code == 404
    assert operator.get("/workflows/00000000-0000-0000-0000-000000000000").status_code == 404


def test_operator_fills_the_form_errors_beside_fields_then_saves(operator, api, db, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    page = text(operator.get(f"/workflows/{wf['id']}"))
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(page, amount="50", purpose="Roof"), htmx=True)
    assert r.status_code == 422 and is_fragment(r)
    body = text(r)
    assert re.search(r'id="state-amount-error"[^>]*>[^<]*less than the minimum', body)
    assert 'value="Roof"' in body and 'value="50"' in body  # nothing typed is lost
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(body, amount="5000", purpose="Roof"), htmx=True)
    assert r.status_code == 200, text(r)
    assert "Saved: Loan amount, Purpose" in text(r)
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["state_data"] == {"amount": 5000, "purpose": "Roof"}
    events = api.get(f"/api/workflows/{wf['id']}/events").json["items"]
    assert events[-1]["actor"] == "staff:operator1" and events[-1]["data"]["source"] == "operator"
    assert db.count(AuditEntry, AuditEntry.action == "workflow_state_updated") == 1


def test_two_operators_conflict_changed_meanwhile_and_nobody_loses_data(app, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    first = Staff(app, "operator")
    second = Staff.__new__(Staff)
    # a second operator with a session of their own
    from pages_support import PASSWORD, csrf_from, make_staff

    make_staff(app, "operator2", "operator")
    second.app, second.client = app, app.test_client()
    login = second.client.get("/login")
    second.client.post(
        "/login", data={"username": "operator2", "password": PASSWORD, "csrf_token": csrf_from(text(login))}
    )
    second.token = csrf_from(text(second.client.get("/workflows/")))

    page1 = text(first.get(f"/workflows/{wf['id']}"))
    page2 = text(second.get(f"/workflows/{wf['id']}"))
    r = first.post(f"/workflows/{wf['id']}/state", form_data(page1, amount="7000"), htmx=True)
    assert r.status_code == 200
    # the second operator's form is stale: they typed a purpose (and left the amount as loaded)
    r = second.post(f"/workflows/{wf['id']}/state", form_data(page2, purpose="Kitchen"), htmx=True)
    assert r.status_code == 409
    body = text(r)
    assert "Changed meanwhile" in body and "staff:operator1" in body
    assert 'data-field="amount"' in body and "7000" in body
    assert 'value="Kitchen"' in body and 'value="7000"' in body  # their typing kept, the new amount shown
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {"amount": 7000}  # nothing written
    # saving again (having seen the change) applies the purpose on top of the first operator's amount
    r = second.post(f"/workflows/{wf['id']}/state", form_data(body, amount="7000", purpose="Kitchen"), htmx=True)
    assert r.status_code == 200, text(r)
    assert api.get(f"/api/workflows/{wf['id']}").json["state_data"] == {"amount": 7000, "purpose": "Kitchen"}


def test_conflict_on_the_same_field_keeps_the_operators_value_and_names_it(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    page = text(operator.get(f"/workflows/{wf['id']}"))
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}}, role="integration")
    r = operator.post(f"/workflows/{wf['id']}/state", form_data(page, amount="3000"), htmx=True)
    assert r.status_code == 409
    body = text(r)
    assert (
        "You and they both changed: Loan amount" in body and 'value="3000"' in body and "token:test-integration" in body
    )


def test_timeline_steps_show_the_state_after_each_event(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}}, role="integration")
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 3000, "purpose": "Car"}}, role="integration")
    r = operator.get(f"/workflows/{wf['id']}/timeline", htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    body = text(r)
    assert "Step 3 of 3" in body
    assert re.search(r'class="step-changed" data-field="amount">.*?3000.*?2000', body, re.S)
    body = text(operator.get(f"/workflows/{wf['id']}/timeline?step=2", htmx=True))
    assert "Step 2 of 3" in body and re.search(r'class="step-changed" data-field="amount">.*?2000', body, re.S)
    assert re.search(r'class="" data-field="purpose">\s*<th[^>]*>Purpose</th>\s*<td><span class="muted">', body)
    body = text(operator.get(f"/workflows/{wf['id']}/timeline?step=99", htmx=True))
    assert "Step 3 of 3" in body
    # the full page can open at a step (a link to a step is shareable)
    assert "Step 1 of 3" in text(operator.get(f"/workflows/{wf['id']}?step=1"))


def test_detail_poll_204_then_200_then_286_when_terminal(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    body = text(operator.get(f"/workflows/{wf['id']}"))
    live = re.search(r'hx-get="(/workflows/[^"]+/live\?[^"]+)"', body).group(1).replace("&amp;", "&")
    assert operator.get(live, htmx=True).status_code == 204
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car"}}, role="integration")
    r = operator.get(live + "&etag=" + etag_of(body), htmx=True)
    assert r.status_code == 200 and "changed after the form was loaded" in text(r)
    assert "workflowChanged" in r.headers["HX-Trigger"]
    api.put(f"/api/workflows/{wf['id']}", {"status": "cancelled", "reason": "gone"}, role="integration")
    r = operator.get(live, htmx=True)
    assert r.status_code == 286 and "cancelled" in text(r) and "hx-trigger" not in text(r)
    # a terminal workflow's page does not poll at all
    assert f"/workflows/{wf['id']}/live" not in text(operator.get(f"/workflows/{wf['id']}"))


def test_complete_and_cancel(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = operator.post(f"/workflows/{wf['id']}/status", {"status": "completed"}, htmx=True)
    assert r.status_code == 422 and "Loan amount: is required" in text(r)  # the field's title, not its key
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}})
    r = operator.post(f"/workflows/{wf['id']}/status", {"status": "completed"}, htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/workflows/{wf['id']}"
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "completed"
    other = make_workflow(state_schema=SCHEMA)
    r = operator.post(f"/workflows/{other['id']}/status", {"status": "cancelled", "reason": "duplicate"})
    assert r.status_code == 303
    got = api.get(f"/api/workflows/{other['id']}").json
    assert got["status"] == "cancelled" and got["status_reason"] == "duplicate"
    r = operator.post(f"/workflows/{other['id']}/status", {"status": "cancelled"}, htmx=True)
    assert r.status_code == 409


def test_bulk_cancel_reports_each_workflow(operator, api, make_workflow, make_workflow_template, make_end_user):
    user = make_end_user()
    t = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    a, b, c = (make_workflow(template=t, user=user) for _ in range(3))
    api.put(f"/api/workflows/{c['id']}", {"status": "cancelled"})
    r = operator.post("/workflows/bulk", {"action": "cancel", "ids": [a["id"], b["id"], c["id"]]}, htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    body = text(r)
    assert "2 of 3 done" in body and body.count("cancelled") >= 2
    assert api.get(f"/api/workflows/{a['id']}").json["status"] == "cancelled"
    assert api.get(f"/api/workflows/{b['id']}").json["status"] == "cancelled"


def test_viewer_reads_only_and_the_server_refuses(viewer, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"national_id": "AB123456", "purpose": "Car"}})
    body = text(viewer.get(f"/workflows/{wf['id']}"))
    assert 'name="state-purpose"' not in body and "Car" in body
    assert "AB123456" not in body and "••••" in body  # personal data masked for viewers
    assert "Cancel workflow" not in body and "Cancel selected" not in text(viewer.get("/workflows/"))
    page_etag = etag_of(body)
    for path, data in (
        (f"/workflows/{wf['id']}/state", {"etag": page_etag, "state-purpose": "x"}),
        (f"/workflows/{wf['id']}/status", {"status": "cancelled"}),
        ("/workflows/bulk", {"action": "cancel", "ids": wf["id"]}),
    ):
        assert viewer.post(path, data).status_code == 403, path
        assert viewer.post(path, data, htmx=True).status_code == 403, path
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["status"] == "active" and got["state_data"]["purpose"] == "Car"


def test_anonymous_is_sent_to_login(client, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    assert client.get("/workflows/").status_code == 302
    assert client.get(f"/workflows/{wf['id']}/live", headers=HX).status_code == 401


def test_post_without_csrf_is_refused(operator, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = operator.post(f"/workflows/{wf['id']}/status", {"status": "cancelled"}, csrf=False)
    assert r.status_code == 400
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "active"


def test_operator_resolves_a_dependency_by_hand(
    operator, viewer, api, make_workflow, make_workflow_template, make_end_user
):
    user = make_end_user()
    prior = make_workflow_template(state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    t = make_workflow_template(
        state_schema=SCHEMA,
        grant_to=[user["user_type_id"]],
        workflow_dependencies=[
            {"name": "prior_application", "type": "workflow", "template": prior["name"], "when": "on_start"}
        ],
    )
    wf = make_workflow(template=t, user=user)
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "waiting"
    body = text(operator.get(f"/workflows/{wf['id']}"))
    assert 'id="wf-waiting"><strong>prior_application</strong>' in body and "Resolve</button>" in body
    assert "waiting" in text(operator.get("/workflows/?waiting_for=prior_application"))
    assert "Resolve</button>" not in text(viewer.get(f"/workflows/{wf['id']}"))
    assert (
        viewer.post(f"/workflows/{wf['id']}/dependencies/prior_application", {"outcome": "succeeded"}).status_code
        == 403
    )
    assert 'name="reason" required' in body
    # the reason is required: without one nothing changes, and the page says why
    r = operator.post(f"/workflows/{wf['id']}/dependencies/prior_application", {"outcome": "succeeded"}, htmx=True)
    assert r.status_code == 204
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "waiting"
    assert "say why you resolve the dependency by hand" in text(operator.get(f"/workflows/{wf['id']}"))
    r = operator.post(
        f"/workflows/{wf['id']}/dependencies/prior_application",
        {"outcome": "succeeded", "reason": "the prior application is on paper"},
        htmx=True,
    )
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/workflows/{wf['id']}"
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["status"] == "active" and got["pending_dependencies"]["prior_application"]["state"] == "succeeded"
    # resolving it again is refused with the service's reason, shown as a message
    r = operator.post(
        f"/workflows/{wf['id']}/dependencies/prior_application", {"outcome": "failed", "reason": "again"}, htmx=True
    )
    assert r.status_code == 204
    assert "already succeeded" in text(operator.get(f"/workflows/{wf['id']}"))


def test_operator_retries_a_dead_end_action(app, operator, viewer, api, make_workflow):
    import uuid as _uuid

    from wfapp.extensions import db as _db
    from wfapp.models import Job, JobStatus

    wf = make_workflow(
        state_schema=SCHEMA,
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans", "method": "POST"},
    )
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}, "status": "completed"})
    body = text(operator.get(f"/workflows/{wf['id']}"))
    assert "https://bank.example/loans" in body and "pending" in body
    with app.app_context():
        job = _db.session.scalar(sa.select(Job).where(Job.workflow_id == _uuid.UUID(wf["id"])))
        job.status, job.attempts, job.last_error = JobStatus.DEAD, 8, "HTTP 400: amount rejected"
        _db.session.commit()
    body = text(operator.get(f"/workflows/{wf['id']}"))
    assert "HTTP 400: amount rejected" in body and "Retry</button>" in body
    assert "Retry</button>" not in text(viewer.get(f"/workflows/{wf['id']}"))
    assert viewer.post(f"/workflows/{wf['id']}/end-action/retry").status_code == 403
    r = operator.post(f"/workflows/{wf['id']}/end-action/retry", htmx=True)
    assert r.status_code == 204
    with app.app_context():
        job = _db.session.scalar(sa.select(Job).where(Job.workflow_id == _uuid.UUID(wf["id"])))
        assert job.status == JobStatus.PENDING and job.attempts == 0
    # the bulk retry reports a workflow whose end action is not dead
    r = operator.post("/workflows/bulk", {"action": "retry", "ids": [wf["id"]]}, htmx=True)
    assert "0 of 1 done" in text(r) and "only a dead job can be retried" in text(r)
