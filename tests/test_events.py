"""Public events: webhook subscriptions against real receivers on 127.0.0.1, the long-polling
feed under concurrent lifecycles and across a restart, timers (remind, expire, dependency
timeouts) and suspension."""

import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from receivers import FAST, Answer, Receiver, drain

from wfapp import create_app
from wfapp.models import Job, JobKind, JobStatus, PublicEvent, Timer, Workflow
from wfapp.models.types import utcnow
from wfapp.outbox.clock import run_due_timers
from wfapp.outbox.http import verify_signature
from wfapp.services import public_events

STATE = {"amount": 50000, "purpose": "Home improvement"}


@pytest.fixture(autouse=True)
def fast(app):
    app.config.update(FAST)
    public_events.invalidate()
    yield
    public_events.invalidate()


def subscribe(api, url, types, **kw):
    r = api.post("/api/event-subscriptions", {"url": url, "event_types": types, **kw})
    assert r.status_code == 201, r.json
    return r.json


def start(api, template, user, conversation=None):
    r = api.post(
        "/api/workflows",
        {"template_id": template["id"], "user_id": user["id"], "conversation_id": conversation or uuid.uuid4().hex},
        role="integration",
    )
    assert r.status_code == 201, r.json
    return r.json


def delivered(rx, secret):
    """The events a receiver accepted, deduplicated by event id, each signature checked."""
    seen = {}
    for req in rx.requests:
        assert verify_signature(secret, req.body, req.headers["X-Wfapp-Signature"])
        doc = req.json()
        assert req.headers["Idempotency-Key"] == doc["id"]
        seen.setdefault(doc["id"], doc)
    return list(seen.values())


def test_subscriptions_api_shows_the_secret_once_and_checks_its_input(api, make_workflow_template):
    make_workflow_template(name="loan_application")
    sub = subscribe(api, "https://hooks.example/in", ["workflow.completed"], templates=["loan_application"])
    assert sub["secret"].startswith("whsec_")
    got = api.get(f"/api/event-subscriptions/{sub['id']}").json
    assert "secret" not in got and got["templates"] == ["loan_application"]
    assert all("secret" not in s for s in api.get("/api/event-subscriptions").json["items"])
    r = api.post("/api/event-subscriptions", {"url": "https://x.example", "event_types": ["workflow.nope"]})
    assert r.status_code == 422
    r = api.post(
        "/api/event-subscriptions",
        {"url": "https://x.example", "event_types": ["workflow.started"], "templates": ["nope"]},
    )
    assert r.status_code == 422 and "nope" in r.json["detail"]
    assert api.get("/api/event-subscriptions", role="operator").status_code == 403
    assert (
        api.post(
            "/api/event-subscriptions",
            {"url": "https://x.example", "event_types": ["workflow.started"]},
            role="integration",
        ).status_code
        == 403
    )
    r = api.patch(f"/api/event-subscriptions/{sub['id']}", {"is_active": False})
    assert r.status_code == 200 and r.json["is_active"] is False and "secret" not in r.json
    assert api.delete(f"/api/event-subscriptions/{sub['id']}").status_code == 204
    assert api.get(f"/api/event-subscriptions/{sub['id']}").status_code == 404


def test_kyc_202_then_callback_sends_waiting_then_resumed_once_each(
    api, app, db, make_workflow_template, make_end_user
):
    with Receiver([Answer(202, body={"status": "processing"})]) as kyc, Receiver([200]) as hooks:
        sub = subscribe(api, hooks.url + "/events", ["workflow.waiting", "workflow.resumed", "dependency.succeeded"])
        user = make_end_user()
        t = make_workflow_template(
            grant_to=[user["user_type_id"]],
            workflow_dependencies=[{"name": "kyc", "api": {"endpoint": kyc.url + "/kyc", "timeout_s": 2}}],
        )
        wf = start(api, t, user)
        assert wf["status"] == "waiting"
        drain(app, db)  # the KYC call (202), the waiting event's webhook
        # the KYC service calls back at the address its call carried (no token: the credential)
        callback = urlsplit(kyc.requests[0].headers["X-Wfapp-Callback"]).path
        r = app.test_client().post(callback, json={"outcome": "succeeded", "result": {"ok": True}})
        assert r.status_code == 200
        assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "active"
        drain(app, db)
        drain(app, db)  # a second run sends nothing again
    events = delivered(hooks, sub["secret"])
    assert [e["type"] for e in events] == ["workflow.waiting", "dependency.succeeded", "workflow.resumed"]
    assert len(hooks.requests) == 3  # once each
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["data"]["waiting_for"]["name"] == "kyc" and events[0]["workflow_id"] == wf["id"]
    assert hooks.requests[0].headers["X-Wfapp-Event"] == "workflow.waiting"


def test_a_receiver_that_fails_twice_gets_each_event_once(api, app, db, make_workflow):
    with Receiver([500, 503, 200]) as hooks:
        sub = subscribe(api, hooks.url, ["workflow.started", "workflow.completed"])
        wf = make_workflow()
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"}, role="integration")
        assert r.status_code == 200, r.json
        drain(app, db)
    events = delivered(hooks, sub["secret"])
    assert sorted(e["type"] for e in events) == ["workflow.completed", "workflow.started"]
    accepted = [r for i, r in enumerate(hooks.requests) if i >= 2]
    assert sorted(r.headers["Idempotency-Key"] for r in accepted) == sorted(e["id"] for e in events)
    assert len(hooks.requests) == 4  # two failures, then each event once
    jobs = db.scalars(sa.select(Job).where(Job.kind == JobKind.WEBHOOK))
    assert all(j.status == JobStatus.SUCCEEDED for j in jobs)


def test_a_dead_webhook_is_an_incident_and_can_be_retried(api, app, db, make_workflow):
    with Receiver([410, 200]) as hooks:
        subscribe(api, hooks.url, ["workflow.started"])
        make_workflow()
        drain(app, db)
        dead = api.get("/api/jobs?status=dead").json["items"]
        assert len(dead) == 1 and dead[0]["kind"] == "webhook" and dead[0]["endpoint"] == hooks.url
        assert api.post(f"/api/jobs/{dead[0]['id']}/retry").status_code == 202
        drain(app, db)
    assert [r.headers["Idempotency-Key"] for r in hooks.requests][0] == hooks.requests[1].headers["Idempotency-Key"]
    assert api.get("/api/jobs?status=dead").json["items"] == []


def test_the_outbound_address_policy_applies_to_webhooks(api, app, db, make_workflow):
    app.config["OUTBOUND_ALLOW"] = ""
    with Receiver([200]) as hooks:
        subscribe(api, hooks.url, ["workflow.started"])
        make_workflow()
        drain(app, db)
    assert hooks.requests == []
    dead = api.get("/api/jobs?status=dead").json["items"]
    assert len(dead) == 1 and "loopback" in dead[0]["last_error"]


def test_no_subscription_means_no_job_and_templates_filter(api, app, db, make_workflow, make_workflow_template):
    make_workflow()
    assert db.count(Job) == 0 and db.count(PublicEvent) == 1
    t = make_workflow_template(name="only_this")
    with Receiver([200]) as hooks:
        subscribe(api, hooks.url, ["workflow.started"], templates=["only_this"])
        make_workflow()
        make_workflow(template=t)
        drain(app, db)
    assert [r.json()["template"] for r in hooks.requests] == ["only_this"]


def poll_feed(client, headers, cursor, seen, stop, errors):
    while not stop.is_set():
        r = client.get(f"/api/events?after={cursor}&wait=1", headers=headers)
        if r.status_code != 200:
            errors.append(r.json)
            return cursor
        for item in r.json["items"]:
            seen.append(item)
        cursor = r.json["next"]
        if r.json["items"] == [] and stop.is_set():
            break
    return cursor


def test_the_feed_sees_every_event_of_100_concurrent_lifecycles_once_in_order_across_a_restart(
    api, app, db, make_workflow_template, make_end_user
):
    user = make_end_user()
    t = make_workflow_template(grant_to=[user["user_type_id"]])
    token = api.token("integration")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/events?wait=31", role="integration").status_code == 422
    assert api.get("/api/events", role="viewer").status_code == 403

    def lifecycle(i):
        client = app.test_client()
        r = client.post(
            "/api/workflows",
            json={"template_id": t["id"], "user_id": user["id"], "conversation_id": f"feed-{i}"},
            headers=headers,
        )
        assert r.status_code == 201, r.json
        wid = r.json["id"]
        r = client.put(f"/api/workflows/{wid}", json={"state_data": STATE, "status": "completed"}, headers=headers)
        assert r.status_code == 200, r.json

    seen: list[dict] = []
    errors: list = []
    stop = threading.Event()
    result: dict = {}

    def reader(the_app, cursor):
        result["cursor"] = poll_feed(the_app.test_client(), headers, cursor, seen, stop, errors)

    th = threading.Thread(target=reader, args=(app, 0))
    th.start()
    workers = [threading.Thread(target=lifecycle, args=(i,)) for i in range(50)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    th.join(30)
    # a restart: a new app object on the same database, the reader goes on from its cursor
    app2 = create_app({**app.config, "DISPATCHER_ENABLED": False})
    stop = threading.Event()
    th = threading.Thread(target=reader, args=(app2, result["cursor"]))
    th.start()
    workers = [threading.Thread(target=lifecycle, args=(i,)) for i in range(50, 100)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    time.sleep(0.5)
    stop.set()
    th.join(30)
    # anything still unread
    while True:
        r = app2.test_client().get(f"/api/events?after={result['cursor']}", headers=headers)
        seen.extend(r.json["items"])
        if not r.json["items"]:
            break
        result["cursor"] = r.json["next"]
    from wfapp.extensions import db as _db

    with app2.app_context():  # the restarted app's connections end with it
        _db.session.remove()
        _db.engine.dispose()
    assert errors == []
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)) == 200  # started + completed of 100 workflows, once each
    assert [e["cursor"] for e in seen] == sorted(e["cursor"] for e in seen)
    per_workflow = defaultdict(list)
    for e in seen:
        per_workflow[e["workflow_id"]].append((e["seq"], e["type"]))
    assert len(per_workflow) == 100
    for evs in per_workflow.values():
        assert [t for _s, t in evs] == ["workflow.started", "workflow.completed"]
        assert evs == sorted(evs)


def age(db, app, wid, seconds):
    """Pretend the workflow's last interaction (and its timers) happened `seconds` ago."""
    from wfapp.extensions import db as _db

    with app.app_context():
        past = utcnow() - timedelta(seconds=seconds)
        _db.session.execute(sa.update(Workflow).where(Workflow.id == uuid.UUID(wid)).values(last_interaction_at=past))
        _db.session.execute(sa.update(Timer).where(Timer.workflow_id == uuid.UUID(wid)).values(due_at=past))
        _db.session.commit()


def public_types(db, wid):
    return [
        e.type
        for e in db.scalars(
            sa.select(PublicEvent).where(PublicEvent.workflow_id == uuid.UUID(wid)).order_by(PublicEvent.id)
        )
    ]


def test_timers_validate_and_show_in_context(api, make_workflow, make_workflow_template):
    r = api.post(
        "/api/workflow-templates",
        {"name": "bad_timers", "state_schema": {"a": {"type": "string"}}, "timers": {"expire_after": "soon"}},
    )
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/timers/expire_after"
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "bad_dep",
            "state_schema": {"a": {"type": "string"}},
            "workflow_dependencies": [{"name": "k", "api": {"endpoint": "https://k.example"}, "timeout": -1}],
        },
    )
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/workflow_dependencies/0/timeout"
    t = make_workflow_template(timers={"remind_after": "PT10M", "expire_after": "P1D"})
    assert t["timers"] == {"remind_after": 600, "expire_after": 86400}
    wf = make_workflow(template=t)
    ctx = api.get(f"/api/workflows/{wf['id']}/context", role="integration").json
    assert ctx["next_timer"]["kind"] == "remind" and ctx["suspended"] is None


def test_reminder_once_per_idle_period_and_expiry_catches_up(api, app, db, make_workflow, make_workflow_template):
    t = make_workflow_template(timers={"remind_after": 60, "expire_after": 3600})
    wf = make_workflow(template=t)
    age(db, app, wf["id"], 120)
    assert run_due_timers(app) == 1
    assert run_due_timers(app) == 0  # once per idle period
    assert public_types(db, wf["id"]) == ["workflow.started", "workflow.reminder"]
    # an interaction starts a new idle period
    assert (
        api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "x"}}, role="integration").status_code == 200
    )
    assert run_due_timers(app) == 0
    age(db, app, wf["id"], 4000)  # down for longer than expire_after: it expires once
    run_due_timers(app)
    run_due_timers(app)
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["status"] == "cancelled" and got["status_reason"] == "expired"
    assert public_types(db, wf["id"]).count("workflow.expired") == 1
    age(db, app, wf["id"], 8000)  # the ended workflow's timers go without firing
    assert run_due_timers(app) == 0
    assert public_types(db, wf["id"]).count("workflow.expired") == 1 and db.count(Timer) == 0


def test_a_pending_dependency_times_out_through_its_on_failure(api, app, db, make_workflow_template, make_end_user):
    with Receiver([202]) as kyc:
        user = make_end_user()
        t = make_workflow_template(
            grant_to=[user["user_type_id"]],
            workflow_dependencies=[
                {"name": "kyc", "api": {"endpoint": kyc.url}, "timeout": "PT30S", "on_failure": {"action": "continue"}}
            ],
        )
        wf = start(api, t, user)
        drain(app, db)
        ctx = api.get(f"/api/workflows/{wf['id']}/context", role="integration").json
        assert ctx["next_timer"]["kind"] == "dependency_timeout" and ctx["waiting_for"]["next_timer"]["name"] == "kyc"
        # the workflow's own answers (one, and the list) say the same as /context
        one = api.get(f"/api/workflows/{wf['id']}").json
        assert one["status"] == "waiting" and one["waiting_for"]["next_timer"] == ctx["next_timer"]
        listed = api.get(f"/api/workflows?status=waiting&user_id={user['id']}", role="viewer").json["items"]
        assert [w["waiting_for"]["next_timer"] for w in listed] == [ctx["next_timer"]]
        assert run_due_timers(app) == 0
        from wfapp.extensions import db as _db

        with app.app_context():
            w = _db.session.get(Workflow, uuid.UUID(wf["id"]))
            deps = dict(w.pending_dependencies)
            deps["kyc"] = {**deps["kyc"], "since": (utcnow() - timedelta(seconds=60)).isoformat()}
            w.pending_dependencies = deps
            _db.session.execute(sa.update(Timer).values(due_at=utcnow() - timedelta(seconds=1)))
            _db.session.commit()
        assert run_due_timers(app) == 1
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["status"] == "active" and got["pending_dependencies"]["kyc"]["last_error"] == "timed out"
    assert "dependency.failed" in public_types(db, wf["id"])


def test_suspension_refuses_writes_holds_timers_and_resume_lifts_it(
    api, app, db, make_workflow, make_workflow_template
):
    t = make_workflow_template(timers={"expire_after": 60})
    wf = make_workflow(template=t)
    assert (
        api.post(f"/api/workflows/{wf['id']}/suspend", {"reason": "fraud check"}, role="integration").status_code == 403
    )
    r = api.post(f"/api/workflows/{wf['id']}/suspend", {"reason": "fraud check"}, role="operator")
    assert r.status_code == 200 and r.json["suspended"]["reason"] == "fraud check"
    assert api.post(f"/api/workflows/{wf['id']}/suspend", {"reason": "again"}, role="operator").status_code == 409
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "x"}}, role="integration")
    assert r.status_code == 409 and "suspended" in r.json["detail"] and "fraud check" in r.json["detail"]
    ctx = api.get(f"/api/workflows/{wf['id']}/context", role="integration").json
    assert ctx["suspended"]["reason"] == "fraud check" and ctx["next_timer"] is None
    age(db, app, wf["id"], 600)
    assert run_due_timers(app) == 0  # no timer fires while suspended
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "active"
    r = api.post(f"/api/workflows/{wf['id']}/resume", role="operator")
    assert r.status_code == 200 and r.json["suspended"] is None
    assert run_due_timers(app) == 0  # resuming starts a new idle period
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "x"}}, role="integration")
    assert r.status_code == 200


def test_dependency_calls_wait_while_suspended(api, app, db, make_workflow_template, make_end_user):
    with Receiver([{"ok": True}]) as kyc:
        user = make_end_user()
        t = make_workflow_template(
            grant_to=[user["user_type_id"]],
            workflow_dependencies=[{"name": "kyc", "when": {"fields": ["purpose"]}, "api": {"endpoint": kyc.url}}],
        )
        wf = start(api, t, user)
        r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "x"}}, role="integration")
        assert r.status_code == 200
        assert api.post(f"/api/workflows/{wf['id']}/suspend", {"reason": "hold"}).status_code == 200
        from wfapp.outbox.run import run_due_jobs

        run_due_jobs(app)
        assert kyc.requests == []
        assert api.post(f"/api/workflows/{wf['id']}/resume").status_code == 200
        drain(app, db)
        assert len(kyc.requests) == 1
    assert api.get(f"/api/workflows/{wf['id']}").json["status"] == "active"


@pytest.mark.multiprocess
@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set WFAPP_TEST_DATABASE_URL (workers claim with SKIP LOCKED)")
def test_three_workers_expire_200_workflows_once_each_and_spare_the_ones_written_to(
    api, app, db, tmp_path, make_workflow_template, make_end_user
):
    from test_workers_postgres import start_worker

    user = make_end_user()
    grant = [user["user_type_id"]]
    fast_t = make_workflow_template(name="expire_1s", grant_to=grant, timers={"expire_after": 1})
    slow_t = make_workflow_template(name="expire_2s", grant_to=grant, timers={"expire_after": "PT2S"})
    workers = []
    with Receiver([200]) as hooks:
        subscribe(api, hooks.url, ["workflow.expired"])
        try:
            workers = [start_worker(tmp_path, i) for i in range(3)]
            expiring = [start(api, fast_t if i % 2 else slow_t, user)["id"] for i in range(200)]
            kept = [start(api, slow_t, user)["id"] for _ in range(10)]

            def all_expired():
                n = db.scalar(
                    sa.select(sa.func.count()).select_from(Workflow).where(Workflow.status_reason == "expired")
                )
                return n >= 200 and len(hooks.requests) >= 200

            deadline, done_at = time.monotonic() + 60, None
            while done_at is None or time.monotonic() < done_at + 1:  # and a second more
                assert time.monotonic() < deadline, "the 200 expiries were not all delivered in time"
                for wid in kept:  # a write every 0.5 s keeps these alive
                    r = api.put(
                        f"/api/workflows/{wid}", {"state_data": {"purpose": str(time.time())}}, role="integration"
                    )
                    assert r.status_code == 200, r.json
                if done_at is None and all_expired():
                    done_at = time.monotonic()
                time.sleep(0.5)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
    expired = db.scalars(sa.select(PublicEvent).where(PublicEvent.type == "workflow.expired"))
    by_workflow = defaultdict(int)
    for e in expired:
        by_workflow[str(e.workflow_id)] += 1
    assert sorted(by_workflow) == sorted(expiring) and set(by_workflow.values()) == {1}
    delivered_ids = [r.headers["Idempotency-Key"] for r in hooks.requests]
    assert len(delivered_ids) == len(set(delivered_ids)) == 200
    for wid in kept:
        assert api.get(f"/api/workflows/{wid}").json["status"] == "active"


def test_admin_page_creates_a_subscription_shows_its_secret_once_and_deletes_it(admin, operator, db):
    from wfapp.models import EventSubscription

    r = admin.post("/admin/subscriptions", {"url": "https://hooks.example/in", "event_types": ["workflow.completed"]})
    assert r.status_code == 201
    html = r.get_data(as_text=True)
    sub = db.scalar(sa.select(EventSubscription))
    assert sub.secret in html and "Copy its signing secret now" in html
    listing = admin.get("/admin/subscriptions").get_data(as_text=True)
    assert "https://hooks.example/in" in listing and sub.secret not in listing
    r = admin.post("/admin/subscriptions", {"url": "not a url", "event_types": []})
    assert r.status_code == 422 and 'role="alert"' in r.get_data(as_text=True)
    assert operator.get("/admin/subscriptions").status_code == 403
    admin.post(f"/admin/subscriptions/{sub.id}/delete")
    assert db.count(EventSubscription) == 0


def test_workflow_page_suspends_and_resumes(operator, api, make_workflow):
    wf = make_workflow()
    page = operator.get(f"/workflows/{wf['id']}").get_data(as_text=True)
    assert 'id="suspend-workflow"' in page
    operator.post(f"/workflows/{wf['id']}/suspend", {"reason": "checking documents"})
    got = api.get(f"/api/workflows/{wf['id']}").json
    assert got["suspended"]["reason"] == "checking documents"
    page = operator.get(f"/workflows/{wf['id']}").get_data(as_text=True)
    assert 'id="resume-workflow"' in page and "checking documents" in page
    assert "suspended" in operator.get("/workflows/").get_data(as_text=True)
    operator.post(f"/workflows/{wf['id']}/resume")
    assert api.get(f"/api/workflows/{wf['id']}").json["suspended"] is None
