"""Sensitive fields on the workflow pages: viewers see them masked everywhere (state form,
timeline, live panels, dependency and end-action panels) and may not filter the monitor by them;
operators see them, and each full view of the detail page records the reveal once in the staff
audit log (its polls and fragments add nothing)."""

import uuid

import sqlalchemy as sa
from pages_support import text

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, Job, Workflow
from wfapp.services import privacy
from wfapp.services.events import record_event

SCHEMA = {
    "amount": {"type": "number", "required": True, "title": "Loan amount"},
    "national_id": {
        "type": "string",
        "sensitive": True,
        "required": True,
        "title": "National id",
        "pattern": "^[A-Z]{2}[0-9]+$",
    },
}
SECRET = "ZZ47110815"
SECRET_INVALID = "ZZ-4711-0815"  # does not match the pattern: a validation message would quote it
SECRET_ANSWER = "Erika Mustermann"
BANK = {"endpoint": "https://bank.example/loans", "method": "POST"}


def _sensitive_workflow(app, api, make_workflow, complete=False, secret=SECRET):
    wf = make_workflow(state_schema=SCHEMA, end_action_type="api_call", end_action_target=BANK)
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 2000}})
    assert r.status_code == 200
    with app.app_context():  # a value the schema refuses can still be in old data; the pages must not quote it
        row = _db.session.get(Workflow, uuid.UUID(wf["id"]))
        row.state_data = {**row.state_data, "national_id": secret}
        row.pending_dependencies = {"kyc": {"state": "succeeded", "result": {"holder": SECRET_ANSWER}}}
        record_event(
            _db.session,
            row,
            "state_updated",
            "integration",
            {"diff": {"set": {"national_id": secret}, "before": {}}, "source": "integration"},
        )
        _db.session.commit()
    if complete:
        assert api.put(f"/api/workflows/{wf['id']}", {"status": "completed"}).status_code == 200
        with app.app_context():
            row = _db.session.get(Workflow, uuid.UUID(wf["id"]))
            job = _db.session.scalar(sa.select(Job).where(Job.workflow_id == row.id))
            assert job.payload["body"]["state_data"]["national_id"] == SECRET
            record_event(
                _db.session,
                row,
                "end_action_attempt",
                "dispatcher",
                {
                    "job_id": job.id,
                    "attempt": 1,
                    "outcome": "failed",
                    "status_code": 422,
                    "excerpt": f'{{"error": "unknown holder {SECRET_ANSWER}"}}',
                    "request": {"method": "POST"},
                },
            )
            _db.session.commit()
    return wf


def _reveals(app, workflow_id=None) -> list[AuditEntry]:
    with app.app_context():
        query = sa.select(AuditEntry).where(AuditEntry.action == privacy.REVEAL_ACTION).order_by(AuditEntry.id)
        if workflow_id:
            query = query.where(AuditEntry.target_id == workflow_id)
        entries = list(_db.session.scalars(query))
        _db.session.expunge_all()
        return entries


def _views(staff, wid: str) -> dict[str, str]:
    """Every page and fragment of the detail page, as this staff user gets them."""
    views = {
        "detail": text(staff.get(f"/workflows/{wid}")),
        "detail fragment": text(staff.get(f"/workflows/{wid}", htmx=True)),
        "state panel": text(staff.get(f"/workflows/{wid}/form", htmx=True)),
        "live poll": text(staff.get(f"/workflows/{wid}/live?since=", htmx=True)),
    }
    timeline = staff.get(f"/workflows/{wid}/timeline", htmx=True)
    steps = int(text(timeline).split('max="', 1)[1].split('"', 1)[0])
    for n in range(1, steps + 1):
        views[f"timeline step {n}"] = text(staff.get(f"/workflows/{wid}/timeline?step={n}", htmx=True))
    return views


def test_viewers_never_see_sensitive_values(app, api, make_workflow, viewer):
    # the end action's preview (with a value the pattern refuses), then the request that was sent
    for complete, secret in ((False, SECRET_INVALID), (True, SECRET)):
        wf = _sensitive_workflow(app, api, make_workflow, complete=complete, secret=secret)
        views = _views(viewer, wf["id"])
        for name, body in views.items():
            assert secret not in body, name
            assert SECRET_ANSWER not in body, name
        assert privacy.MASK in views["state panel"]
        assert privacy.MASK in views["timeline step 3"]  # the step that set it (after started, amount)
        assert 'id="end-action-panel"' in views["live poll"]
        panel = views["detail"].split('id="end-action-panel"', 1)[1]
        assert "national_id" in panel and ("Not sent yet" in panel) is not complete
        if complete:
            assert "Request and answer" in panel and "https://bank.example/loans" in panel
    assert _reveals(app) == []  # nothing was revealed to a viewer


def test_operators_see_them_and_each_page_view_is_audited_once(app, api, make_workflow, operator):
    wf = _sensitive_workflow(app, api, make_workflow, complete=True)
    wid = wf["id"]
    body = text(operator.get(f"/workflows/{wid}"))
    assert SECRET in body and SECRET_ANSWER in body
    [entry] = _reveals(app, wid)
    assert entry.actor == "staff:operator1"
    assert entry.changes == {"fields": ["national_id"], "where": "workflow detail"}
    assert SECRET not in str(entry.changes)

    # the polls and fragments of the open page show the same values without another entry
    for path in (
        f"/workflows/{wid}/live?since=",
        f"/workflows/{wid}/live?since=",
        f"/workflows/{wid}/form",
        f"/workflows/{wid}/timeline",
        f"/workflows/{wid}/timeline?step=3",
    ):
        r = operator.get(path, htmx=True)
        assert r.status_code in (200, 286), path
        assert SECRET in text(r), path
    assert len(_reveals(app, wid)) == 1

    # another full view of the page is another entry
    assert SECRET in text(operator.get(f"/workflows/{wid}"))
    assert len(_reveals(app, wid)) == 2


def test_a_fragment_opened_on_its_own_is_audited(app, api, make_workflow, operator):
    wf = _sensitive_workflow(app, api, make_workflow)
    assert SECRET in text(operator.get(f"/workflows/{wf['id']}/form"))
    assert len(_reveals(app, wf["id"])) == 1
    assert SECRET in text(operator.get(f"/workflows/{wf['id']}/timeline"))
    assert len(_reveals(app, wf["id"])) == 1


def test_monitor_filter_by_a_sensitive_field_is_refused_for_viewers(app, api, make_workflow, viewer, operator):
    wf = _sensitive_workflow(app, api, make_workflow)
    short = wf["id"][:8]
    for path in (
        f"/workflows/?field=national_id&value={SECRET}",
        "/workflows/?field=national_id&value=ZZ&match=contains",
        f"/workflows/live?field=national_id&value={SECRET}",
    ):
        r = viewer.get(path, htmx="live" in path)
        body = text(r)
        assert r.status_code == 200, path
        assert short not in body, path
        assert "personal data" in body and "may not search by it" in body, path
    # a field that is not sensitive is searchable by a viewer
    assert short in text(viewer.get("/workflows/?field=amount&value=2000"))
    # operators may search by it
    body = text(operator.get("/workflows/?field=national_id&value=ZZ&match=contains"))
    assert short in body and "may not search by it" not in body
