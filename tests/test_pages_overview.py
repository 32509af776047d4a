"""The overview (counts, per-day chart, incidents, recent activity, live poll) and the template
analytics page."""

import re
import uuid
from datetime import timedelta

from pages_support import is_fragment, text

from wfapp.extensions import db as _db
from wfapp.models import Job, JobKind, JobStatus, Workflow
from wfapp.models.types import utcnow

SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "title": "Purpose"},
    "note": {"type": "string", "title": "Note"},
}


def add_dead_job(app, workflow_id: str, error: str = "HTTP 400 from the bank") -> None:
    with app.app_context():
        _db.session.add(
            Job(
                kind=JobKind.END_ACTION,
                workflow_id=uuid.UUID(workflow_id),
                idempotency_key=uuid.uuid4().hex,
                payload={
                    "type": "api_call",
                    "target": {"endpoint": "https://bank.example/loans"},
                    "body": {"workflow_id": workflow_id},
                },
                status=JobStatus.DEAD,
                attempts=8,
                max_attempts=8,
                last_error=error,
                finished_at=utcnow(),
            )
        )
        _db.session.commit()


def test_overview_counts_chart_incidents_and_activity(
    app, viewer, api, make_workflow, make_workflow_template, make_end_user
):
    user = make_end_user()
    t = make_workflow_template(name="loan_application", state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    a, b, c = (make_workflow(template=t, user=user) for _ in range(3))
    api.put(f"/api/workflows/{a['id']}", {"state_data": {"amount": 2000, "purpose": "Car"}})
    api.put(f"/api/workflows/{a['id']}", {"status": "completed"})
    api.put(f"/api/workflows/{b['id']}", {"status": "cancelled", "reason": "duplicate"})
    add_dead_job(app, a["id"])

    r = viewer.get("/overview/")
    assert r.status_code == 200 and not is_fragment(r)
    body = text(r)
    assert re.search(r'data-status="active">.*?<strong>1</strong>', body, re.S)
    assert re.search(r'data-status="completed">.*?<strong>1</strong>', body, re.S)
    assert re.search(r'data-status="cancelled">.*?<strong>1</strong>', body, re.S)
    assert "loan_application" in body
    assert "HTTP 400 from the bank" in body and a["id"][:8] in body  # the incident links to its workflow
    assert '<svg class="chart"' in body and "<script>" not in body and "style=" not in body
    assert re.search(r"<title>\w+ \d+ started: 3</title>", body)  # today's column
    assert re.search(r"<title>\w+ \d+ completed: 1</title>", body)
    assert "status changed by" in body and "token:test-admin" in body  # recent activity
    r = viewer.get("/overview/", htmx=True)
    assert r.status_code == 200 and is_fragment(r) and 'id="overview-live"' in text(r)


def test_overview_poll_204_until_something_changes(app, viewer, api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    body = text(viewer.get("/overview/"))
    live = re.search(r'hx-get="(/overview/live\?[^"]+)"', body).group(1).replace("&amp;", "&")
    assert viewer.get(live, htmx=True).status_code == 204
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"note": "hi"}}, role="integration")
    r = viewer.get(live, htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    live = re.search(r'hx-get="(/overview/live\?[^"]+)"', text(r)).group(1).replace("&amp;", "&")
    assert viewer.get(live, htmx=True).status_code == 204
    add_dead_job(app, wf["id"])  # an incident appears: the overview notices
    assert viewer.get(live, htmx=True).status_code == 200


def test_home_goes_to_the_overview(viewer):
    r = viewer.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/overview/")


def test_analytics_fields_funnel_sources_abandonment_and_median(
    app, operator, api, make_workflow, make_workflow_template, make_end_user
):
    user = make_end_user()
    t = make_workflow_template(name="loan_application", state_schema=SCHEMA, grant_to=[user["user_type_id"]])
    done, quitter, fresh = (make_workflow(template=t, user=user) for _ in range(3))
    api.put(f"/api/workflows/{done['id']}", {"state_data": {"amount": 2000}}, role="integration")
    api.put(f"/api/workflows/{done['id']}", {"state_data": {"purpose": "Car"}}, role="integration")
    api.put(f"/api/workflows/{done['id']}", {"status": "completed"}, role="integration")
    api.put(f"/api/workflows/{quitter['id']}", {"state_data": {"amount": 1500}}, role="integration")
    api.put(f"/api/workflows/{quitter['id']}", {"status": "cancelled", "reason": "user left"}, role="integration")
    # an operator fills the third one's purpose, after a refused try
    page = text(operator.get(f"/workflows/{fresh['id']}"))
    etag = re.search(r'name="etag" value="([^"]+)"', page).group(1).replace("&#34;", '"')
    seq = re.search(r'name="base_seq" value="(\d+)"', page).group(1)
    assert (
        operator.post(
            f"/workflows/{fresh['id']}/state", {"etag": etag, "base_seq": seq, "state-amount": "5"}, htmx=True
        ).status_code
        == 422
    )
    assert (
        operator.post(
            f"/workflows/{fresh['id']}/state", {"etag": etag, "base_seq": seq, "state-purpose": "Roof"}, htmx=True
        ).status_code
        == 200
    )
    with app.app_context():  # completed one minute and a half after it started
        wf = _db.session.get(Workflow, uuid.UUID(done["id"]))
        wf.completed_at = wf.started_at + timedelta(seconds=90)
        _db.session.commit()

    r = operator.get("/analytics/loan_application")
    assert r.status_code == 200 and not is_fragment(r)
    body = text(r)
    assert '<strong id="a-total">3</strong>' in body
    assert '<strong id="a-median">1 min 30 s</strong>' in body

    def row(key):
        m = re.search(rf'<tr data-field="{key}">(.*?)</tr>', body, re.S)
        return [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', m.group(1))]

    # have it, by integration, by operator, validation failures, abandoned here
    assert row("amount") == [2, 2, 0, 1, 1]
    assert row("purpose") == [2, 1, 1, 0, 0]
    assert row("note") == [0, 0, 0, 0, 0]
    assert "<title>Completed: 1</title>" in body and "<title>Started: 3</title>" in body
    r = operator.get("/analytics/loan_application?version=1", htmx=True)
    assert r.status_code == 200 and is_fragment(r)
    assert operator.get("/analytics/loan_application?version=7").status_code == 404
    assert operator.get("/analytics/nope").status_code == 404
    assert "loan_application" in text(operator.get("/analytics/"))
