"""No N+1: every list endpoint and list page sends the same number of SQL statements whether it
shows 10 rows or 100 (counted with SQLAlchemy's before_cursor_execute on the app's engine)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pages_support import Staff
from receivers import FAST, Receiver
from sqlcount import counting

from wfapp.extensions import db as _db
from wfapp.models import Job, JobKind, Workflow, WorkflowTemplate


def statements_of(app, client, path, headers=None) -> list[str]:
    client.get(path, headers=headers or {})  # warm: first-request set-up is not the page's cost
    with counting(app) as statements:
        r = client.get(path, headers=headers or {})
    assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:500])
    return statements


def add_workflows(app, templates: list[dict], users: list[dict], n: int) -> None:
    """n more workflows spread over the given templates and end users (several statuses), written
    straight into the table: what the list shows is the point here, not how they started."""
    now = datetime.now(UTC)
    statuses = ["active", "waiting", "completed", "failed", "cancelled"]
    with app.app_context():
        versions = {
            t["id"]: _db.session.scalar(
                sa.select(WorkflowTemplate.current_version_id).where(WorkflowTemplate.id == uuid.UUID(t["id"]))
            )
            for t in templates
        }
        rows = []
        for i in range(n):
            t, u, status = templates[i % len(templates)], users[i % len(users)], statuses[i % len(statuses)]
            ts = now - timedelta(minutes=i + 1)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "template_id": uuid.UUID(t["id"]),
                    "template_version_id": versions[t["id"]],
                    "conversation_id": f"qc-{uuid.uuid4().hex[:10]}",
                    "user_id": u["id"],
                    "status": status,
                    "state_data": {"amount": 1000 + i, "purpose": "counted"},
                    "pending_dependencies": {},
                    "waiting_for": {"name": "kyc", "type": "api"} if status == "waiting" else None,
                    "row_version": 1,
                    "event_seq": 0,
                    "status_reason": "",
                    "started_at": ts,
                    "completed_at": ts if status == "completed" else None,
                    "last_interaction_at": ts,
                    "updated_at": ts,
                }
            )
        with _db.engine.begin() as conn:
            conn.execute(Workflow.__table__.insert(), rows)


@pytest.fixture
def world(app, api, make_user_type, make_end_user, make_workflow_template):
    user_type = make_user_type()
    users = [make_end_user(user_type_id=user_type["id"]) for _ in range(3)]
    templates = [make_workflow_template(grant_to=[user_type["id"]]) for _ in range(3)]
    return {"user_type": user_type, "users": users, "templates": templates}


WORKFLOW_LISTS_API = ["/api/workflows", "/api/workflows?status=active,waiting,completed,failed,cancelled&limit=200"]
WORKFLOW_LISTS_PAGES = [
    "/workflows/",
    "/workflows/?status=active&status=waiting&status=completed&limit=200",
    "/overview/",
]


def test_workflow_lists_cost_the_same_for_10_and_100_rows(app, api, world):
    admin = Staff(app, "admin")
    add_workflows(app, world["templates"], world["users"], 10)
    api_headers = api.headers("admin")
    pages = [p for p in WORKFLOW_LISTS_PAGES if app.url_map.bind("localhost").test(p.split("?")[0], "GET")]
    small = {p: statements_of(app, api.client, p, api_headers) for p in WORKFLOW_LISTS_API}
    small.update({p: statements_of(app, admin.client, p) for p in pages})
    add_workflows(app, world["templates"], world["users"], 90)
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(Workflow)) == 100
    for p in WORKFLOW_LISTS_API:
        r = api.get(p)
        assert len(r.json["items"]) == (50 if "limit" not in p else 100)
        big = statements_of(app, api.client, p, api_headers)
        assert len(big) == len(small[p]), (p, small[p], big)
    for p in pages:
        big = statements_of(app, admin.client, p)
        assert len(big) == len(small[p]), (p, small[p], big)


def test_template_lists_cost_the_same_for_10_and_100_templates(app, api, world, make_workflow_template):
    admin = Staff(app, "admin")
    api_headers = api.headers("admin")
    user_id = world["users"][0]["id"]
    paths_api = ["/api/workflow-templates", f"/api/workflow-templates?user_id={user_id}"]
    paths_pages = ["/workflow-templates/", "/permissions/"]
    for _ in range(10 - len(world["templates"])):
        make_workflow_template(grant_to=[world["user_type"]["id"]])
    add_workflows(app, world["templates"], world["users"], 10)
    small = {p: statements_of(app, api.client, p, api_headers) for p in paths_api}
    small.update({p: statements_of(app, admin.client, p) for p in paths_pages})
    for _ in range(90):
        make_workflow_template(grant_to=[world["user_type"]["id"]])
    assert len(api.get("/api/workflow-templates").json["items"]) == 100
    for p in paths_api:
        big = statements_of(app, api.client, p, api_headers)
        assert len(big) == len(small[p]), (p, small[p], big)
    for p in paths_pages:
        big = statements_of(app, admin.client, p)
        assert len(big) == len(small[p]), (p, small[p], big)


def mark_for_attention(app) -> None:
    """Give every workflow a reason to be in the operators' queue: handoffs, dependencies that
    wait for an operator, dead jobs (the idle ones are idle already: they started long ago)."""
    from wfapp.models import Job

    now = datetime.now(UTC)
    with app.app_context(), _db.engine.begin() as conn:
        rows = conn.execute(sa.select(Workflow.id, Workflow.status, Workflow.handoff_at)).all()
        jobs = []
        for i, (wid, status, handoff_at) in enumerate(rows):
            if handoff_at is not None:
                continue
            if status == "waiting":
                pending = {"kyc": {"state": "pending", "type": "api", "needs_operator": True, "since": now.isoformat()}}
                conn.execute(sa.update(Workflow).where(Workflow.id == wid).values(pending_dependencies=pending))
            elif i % 2:
                conn.execute(
                    sa.update(Workflow)
                    .where(Workflow.id == wid)
                    .values(handoff_at=now, handoff_reason="help", handoff_source="llm")
                )
            if status == "completed":
                jobs.append(
                    {
                        "kind": "end_action",
                        "workflow_id": wid,
                        "idempotency_key": uuid.uuid4().hex,
                        "payload": {},
                        "status": "dead",
                        "attempts": 1,
                        "max_attempts": 1,
                        "next_attempt_at": now,
                        "locked_by": "",
                        "last_error": "answered 400",
                        "created_at": now,
                        "finished_at": now,
                    }
                )
        if jobs:
            conn.execute(Job.__table__.insert(), jobs)


def test_queue_and_monitor_columns_cost_the_same_for_10_and_100_rows(app, api, world):
    operator = Staff(app, "operator")
    name = world["templates"][0]["name"]
    pages = [
        "/attention/",
        "/attention/?who=unassigned",
        f"/workflows/?template={name}&cols=amount,purpose&field=purpose&value=counted",
        "/workflows/?incident=1&sort=oldest",
    ]
    add_workflows(app, world["templates"], world["users"], 10)
    mark_for_attention(app)
    small = {p: statements_of(app, operator.client, p) for p in pages}
    assert "help" in operator.client.get("/attention/").get_data(as_text=True)
    add_workflows(app, world["templates"], world["users"], 90)
    mark_for_attention(app)
    body = operator.client.get(pages[2]).get_data(as_text=True)
    assert body.count('<td class="state-col">counted</td>') == 34
    for p in pages:
        big = statements_of(app, operator.client, p)
        assert len(big) == len(small[p]), (p, small[p], big)


# --- the hot paths: exact statement counts, so that a change that adds a round trip fails here

# (start, merge, complete) of one workflow whose template has an end action, a token used a
# moment ago (its last_used_at is recorded at most every few minutes); SQLite's BEGIN IMMEDIATE
# of each write counted. With subscriptions, one INSERT writes the webhook jobs of a change
# however many subscribers it has.
LIFECYCLE_STATEMENTS = {
    "postgresql": {"plain": (4, 3, 4), "subscribed": (5, 3, 5)},
    "sqlite": {"plain": (6, 5, 7), "subscribed": (7, 5, 8)},
}


def _lifecycle_counts(app, api, template, user_id) -> tuple[int, int, int]:
    counts = []
    with counting(app) as statements:
        r = api.post(
            "/api/workflows",
            {"template_id": template["name"], "user_id": user_id, "conversation_id": f"qc-{uuid.uuid4().hex}"},
            role="integration",
        )
    assert r.status_code == 201, r.json
    counts.append(len(statements))
    wid = r.json["id"]
    for body in ({"state_data": {"amount": 5000, "purpose": "car"}}, {"status": "completed"}):
        with counting(app) as statements:
            r = api.put(f"/api/workflows/{wid}", body, role="integration")
        assert r.status_code == 200, r.json
        counts.append(len(statements))
    return counts[0], counts[1], counts[2]


def test_a_lifecycle_costs_a_fixed_number_of_statements(
    app, api, make_user_type, make_end_user, make_workflow_template
):
    user_type = make_user_type()
    user = make_end_user(user_type_id=user_type["id"])
    template = make_workflow_template(
        grant_to=[user_type["id"]],
        end_action_type="api_call",
        end_action_target={"endpoint": "https://hooks.example.com/done", "method": "POST"},
    )
    _lifecycle_counts(app, api, template, user["id"])  # warm: the token's last use is recorded once
    with app.app_context():
        dialect = _db.engine.dialect.name
    expected = LIFECYCLE_STATEMENTS[dialect]
    assert _lifecycle_counts(app, api, template, user["id"]) == expected["plain"]
    counts = []
    for n in (1, 3):
        while len(api.get("/api/event-subscriptions").json["items"]) < n:
            r = api.post(
                "/api/event-subscriptions",
                {"url": "https://hooks.example.com/events", "event_types": ["workflow.started", "workflow.completed"]},
            )
            assert r.status_code == 201, r.json
        _lifecycle_counts(app, api, template, user["id"])  # warm: the subscriptions are read once
        with app.app_context():
            before = _db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == JobKind.WEBHOOK))
        counts.append(_lifecycle_counts(app, api, template, user["id"]))
        with app.app_context():
            after = _db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == JobKind.WEBHOOK))
        assert after - before == 2 * n  # started and completed, to each subscriber
    assert counts == [expected["subscribed"]] * 2


# The dispatcher's delivery of one end action: the claim (SELECT ... FOR UPDATE SKIP LOCKED and
# its UPDATE), the workflow locked, and the attempt recorded (on PostgreSQL the job, the workflow,
# its event and public event in one statement). SQLite first looks whether anything is due,
# without the writer's lock, then writes them one by one, each transaction with its BEGIN
# IMMEDIATE.
DELIVERY_STATEMENTS = {"postgresql": 4, "sqlite": 10}


def test_delivering_an_end_action_costs_a_fixed_number_of_statements(
    app, api, make_user_type, make_end_user, make_workflow_template
):
    from wfapp.outbox.run import run_due_jobs

    app.config.update(FAST)
    user_type = make_user_type()
    user = make_end_user(user_type_id=user_type["id"])
    with Receiver([200]) as rx:
        template = make_workflow_template(
            grant_to=[user_type["id"]],
            end_action_type="api_call",
            end_action_target={"endpoint": rx.url + "/done", "method": "POST"},
        )
        counts = []
        for _ in range(2):  # the first one warms the caches
            _lifecycle_counts(app, api, template, user["id"])
            with counting(app) as statements:
                assert run_due_jobs(app, limit=1) == 1
            counts.append(len(statements))
        assert len(rx.requests) == 2  # both end actions arrived
    with app.app_context():
        dialect = _db.engine.dialect.name
    assert counts[1] == DELIVERY_STATEMENTS[dialect], statements


def test_an_unchanged_live_poll_costs_one_statement(app):
    staff = Staff(app, "operator")
    page = staff.client.get("/workflows/").get_data(as_text=True)
    import re

    live = re.search(r'/workflows/live\?[^"\']*', page).group(0).replace("&amp;", "&")
    assert staff.client.get(live).status_code == 204
    with counting(app) as statements:
        r = staff.client.get(live)
    assert r.status_code == 204
    # one SELECT, and on SQLite no BEGIN either (the poll reads in autocommit)
    assert len(statements) == 1, statements
    assert statements[0].split(None, 1)[0].upper() == "SELECT", statements
