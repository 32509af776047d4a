"""Retention: `flask purge` removes terminal workflows older than their template's age, in
batches, and exactly what its dry run announced."""

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, Job, JobKind, JobStatus, PublicEvent, Workflow, WorkflowEvent
from wfapp.models.types import utcnow
from wfapp.ops import retention

STATE = {"amount": 5000, "purpose": "car"}


@pytest.fixture
def history(app, api, make_end_user, make_workflow_template, make_workflow):
    """Three workflow templates (global age 30 days, 7 days, kept forever) with workflows of
    every kind, aged by hand; returns (ids by label, template names)."""
    user = make_end_user()
    names = {
        "global": f"wt_global_{uuid.uuid4().hex[:6]}",
        "short": f"wt_short_{uuid.uuid4().hex[:6]}",
        "forever": f"wt_forever_{uuid.uuid4().hex[:6]}",
    }
    app.config.update(
        RETENTION_DAYS=30, RETENTION_BATCH_SIZE=2, RETENTION_DAYS_BY_TEMPLATE={names["short"]: 7, names["forever"]: 0}
    )
    templates = {k: make_workflow_template(name=n, grant_to=[user["user_type_id"]]) for k, n in names.items()}

    def started(kind, status, days):
        wf = make_workflow(template=templates[kind], user=user)
        if status == "completed":
            r = api.put(f"/api/workflows/{wf['id']}", {"state_data": STATE, "status": "completed"}, role="integration")
        elif status in ("cancelled", "failed"):
            r = api.patch(f"/api/workflows/{wf['id']}", {"status": status, "reason": "test"}, role="operator")
        else:
            r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "x"}}, role="integration")
        assert r.status_code == 200, r.json
        with app.app_context():
            _db.session.execute(
                sa.update(Workflow)
                .where(Workflow.id == uuid.UUID(wf["id"]))
                .values(updated_at=utcnow() - timedelta(days=days))
            )
            _db.session.commit()
        return wf["id"]

    ids = {
        # global template, 30 days
        "g_completed_40d": started("global", "completed", 40),
        "g_cancelled_45d": started("global", "cancelled", 45),
        "g_failed_31d": started("global", "failed", 31),
        "g_completed_29d": started("global", "completed", 29),  # not old enough
        "g_active_100d": started("global", "active", 100),  # not terminal
        "g_completed_50d_job_pending": started("global", "completed", 50),  # its end action still runs
        # short template, 7 days
        "s_completed_10d": started("short", "completed", 10),
        "s_cancelled_3d": started("short", "cancelled", 3),
        # kept forever
        "f_completed_400d": started("forever", "completed", 400),
    }
    with app.app_context():
        _db.session.add(
            Job(
                kind=JobKind.END_ACTION,
                workflow_id=uuid.UUID(ids["g_completed_50d_job_pending"]),
                idempotency_key=uuid.uuid4().hex,
                payload={},
                status=JobStatus.PENDING,
            )
        )
        # a finished job of a workflow that goes: purged with it
        _db.session.add(
            Job(
                kind=JobKind.END_ACTION,
                workflow_id=uuid.UUID(ids["g_completed_40d"]),
                idempotency_key=uuid.uuid4().hex,
                payload={},
                status=JobStatus.SUCCEEDED,
            )
        )
        _db.session.commit()
    return ids, names


def all_ids(db) -> set[str]:
    return {str(i) for i in db.scalars(sa.select(Workflow.id))}


def announced(output: str) -> tuple[dict[str, int], int]:
    per = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+): (\d+) workflows unchanged", output, re.M)}
    total = int(re.search(r"^total: (\d+) workflows", output, re.M).group(1))
    return per, total


def test_purge_removes_exactly_what_its_dry_run_announced(app, db, history):
    ids, names = history
    runner = app.test_cli_runner()
    before = all_ids(db)
    events_before = db.count(WorkflowEvent)

    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    per, total = announced(dry.output)
    assert "would be purged (dry run)" in dry.output
    assert per == {names["global"]: 3, names["short"]: 1}  # the template kept forever is not even listed
    assert total == 4
    assert all_ids(db) == before and db.count(WorkflowEvent) == events_before  # a dry run changes nothing

    real = runner.invoke(args=["purge"])
    assert real.exit_code == 0, real.output
    assert announced(real.output) == (per, total)
    gone = before - all_ids(db)
    assert len(gone) == total
    assert gone == {ids["g_completed_40d"], ids["g_cancelled_45d"], ids["g_failed_31d"], ids["s_completed_10d"]}
    # with their history and jobs; nothing else touched
    gone_uuids = [uuid.UUID(i) for i in gone]
    assert db.count(WorkflowEvent, WorkflowEvent.workflow_id.in_(gone_uuids)) == 0
    assert db.count(Job, Job.workflow_id.in_(gone_uuids)) == 0
    assert db.count(Job) == 1  # the pending end action of the workflow that stays
    (entry,) = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge"))
    assert entry.changes["purged"] == 4 and entry.actor == "cli"

    again = runner.invoke(args=["purge", "--dry-run"])
    assert announced(again.output)[1] == 0


def test_one_template_and_another_age_for_one_run(app, db, history):
    ids, names = history
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge", "--dry-run", "--template", names["short"], "--older-than-days", "1"])
    assert dry.exit_code == 0, dry.output
    assert announced(dry.output) == ({names["short"]: 2}, 2)
    before = all_ids(db)
    real = runner.invoke(args=["purge", "--template", names["short"], "--older-than-days", "1"])
    assert announced(real.output) == ({names["short"]: 2}, 2)
    assert before - all_ids(db) == {ids["s_completed_10d"], ids["s_cancelled_3d"]}

    r = runner.invoke(args=["purge", "--dry-run", "--template", "no_such_template"])
    assert r.exit_code != 0 and "no workflow template named" in r.output


def test_nothing_is_purged_without_a_configured_age(app, db, history):
    app.config.update(RETENTION_DAYS=0, RETENTION_DAYS_BY_TEMPLATE={})
    before = all_ids(db)
    r = app.test_cli_runner().invoke(args=["purge"])
    assert r.exit_code == 0 and "nothing to purge" in r.output
    assert all_ids(db) == before


def test_the_dispatcher_purges_once_a_day(app, db, history):
    ids, _names = history
    before = all_ids(db)
    app.config["RETENTION_PURGE_DAILY"] = False
    assert retention.tick(app) is None  # not configured: never
    app.config["RETENTION_PURGE_DAILY"] = True
    thread = retention.tick(app)
    thread.join(30)
    assert len(before - all_ids(db)) == 4
    assert retention.tick(app) is None  # checked again only after an hour in this process
    # another process (or this one, an hour later) sees in the audit log that today's purge is done
    assert retention.run_daily(app) is None
    (entry,) = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge"))
    assert entry.actor == "dispatcher" and entry.changes["purged"] == 4


def age_events(app, days, *where):
    with app.app_context():
        _db.session.execute(sa.update(PublicEvent).where(*where).values(created_at=utcnow() - timedelta(days=days)))
        _db.session.commit()


def feed(api, after=0, **kw):
    r = api.get(f"/api/events?after={after}&limit=500", role="integration", **kw)
    assert r.status_code == 200, r.json
    return r.json


def test_feed_events_older_than_their_age_go_and_a_reader_behind_them_is_told(app, db, api, make_workflow):
    for _ in range(6):
        make_workflow()
    everything = feed(api)  # gives the events their feed positions
    assert everything["truncated"] is False and len(everything["items"]) == 6
    positions = [e["cursor"] for e in everything["items"]]
    old, kept = positions[:4], positions[4:]
    age_events(app, 31, PublicEvent.position.in_(old))
    runner = app.test_cli_runner()

    app.config["EVENTS_RETENTION_DAYS"] = 0  # keeps them
    r = runner.invoke(args=["purge"])
    assert r.exit_code == 0 and "feed events:" not in r.output
    assert db.count(PublicEvent) == len(positions)

    app.config["EVENTS_RETENTION_DAYS"] = 30
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0 and "feed events: 4 older than 30 days" in dry.output and "(dry run)" in dry.output
    assert db.count(PublicEvent) == len(positions)
    real = runner.invoke(args=["purge"])
    assert real.exit_code == 0 and "feed events: 4 older than 30 days" in real.output, real.output
    assert sorted(db.scalars(sa.select(PublicEvent.position))) == kept
    entry = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "retention.purge").order_by(AuditEntry.id))[-1]
    assert entry.changes["events_purged"] == 4 and entry.changes["events_days"] == 30

    # a reader whose cursor is older than the oldest kept event gets the oldest kept, and is told
    behind = feed(api, after=positions[1])
    assert behind["truncated"] is True and [e["cursor"] for e in behind["items"]] == kept
    # a reader that had seen what went, or reads on from the newest, lost nothing
    assert feed(api, after=old[-1])["truncated"] is False
    assert feed(api, after=kept[-1]) == {"items": [], "next": kept[-1], "truncated": False}


def test_the_newest_feed_event_stays_so_positions_count_on(app, db, api, make_workflow):
    make_workflow()
    positions = [e["cursor"] for e in feed(api)["items"]]
    age_events(app, 100)
    assert app.test_cli_runner().invoke(args=["purge"]).exit_code == 0
    assert list(db.scalars(sa.select(PublicEvent.position))) == [positions[-1]]
    make_workflow()
    later = feed(api, after=positions[-1])
    assert later["truncated"] is False and later["items"][0]["cursor"] == positions[-1] + 1
