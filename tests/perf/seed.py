"""Fast set-up of benchmark data: a fresh schema, the few rows everything needs (user type, end
users, workflow templates, a grant, API tokens, a staff login) through the services, and then
N workflows at a time with SQLAlchemy Core bulk inserts into the real tables (PostgreSQL:
INSERT ... SELECT generate_series), never through the API."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from wfapp.extensions import db
from wfapp.models import Job, Workflow, WorkflowEvent, WorkflowTemplate

USER_TYPE = "bench_users"
N_USERS = 100
TEMPLATE = "bench_loan"
OTHER_TEMPLATES = ("bench_kyc", "bench_card", "bench_mortgage")
STAFF_USER, STAFF_PASSWORD = "bench_operator", "bench operator password"
SEED_BASE = datetime(2024, 1, 1, tzinfo=UTC)
LOAN_SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True, "maxLength": 200},
}

# (status, share of 20): what a busy production table looks like, mostly finished workflows
STATUS_CYCLE = ["active"] * 6 + ["waiting"] * 2 + ["completed"] * 10 + ["failed", "cancelled"]


@dataclass
class Base:
    token: str  # integration
    admin_token: str
    templates: dict[str, uuid.UUID] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    seeded: int = 0


def reset_schema(app) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
        db.create_all()


def create_base(app, receiver_url: str) -> Base:
    """User type, end users, workflow templates (bench_loan ends with an api_call to the
    loopback receiver), a grant, tokens and a staff login."""
    from wfapp.services import directory, workflow_templates
    from wfapp.services.staff import create_staff_user
    from wfapp.services.tokens import create_token

    with app.app_context():
        s = db.session
        directory.create_user_type(s, USER_TYPE)
        for i in range(N_USERS):
            directory.create_end_user(s, f"bench_user_{i}", USER_TYPE)
        for name in (TEMPLATE,) + OTHER_TEMPLATES:
            body: dict[str, Any] = {
                "name": name,
                "category": "bench",
                "state_schema": LOAN_SCHEMA,
                "guidelines": "Ask for the amount, then the purpose.",
            }
            if name == TEMPLATE:
                body.update(
                    end_action_type="api_call",
                    end_action_target={"endpoint": receiver_url, "method": "POST", "timeout_s": 5},
                )
            workflow_templates.create_workflow_template(s, body, "bench")
            directory.grant_permission(s, USER_TYPE, name)
        _t, token = create_token(s, "bench-integration", "integration")
        _t, admin_token = create_token(s, "bench-admin", "admin")
        create_staff_user(s, STAFF_USER, STAFF_PASSWORD, "operator")
        s.commit()
        base = Base(token=token, admin_token=admin_token)
        for t in s.scalars(sa.select(WorkflowTemplate)):
            base.templates[t.name] = t.id
            base.versions[t.name] = t.current_version_id
        return base


def _template_order(base: Base) -> list[str]:
    return [TEMPLATE, *OTHER_TEMPLATES]


def _rows(base: Base, start: int, stop: int, rng: random.Random) -> list[dict[str, Any]]:
    names = _template_order(base)
    rows = []
    for i in range(start, stop):
        name = names[i % 4]
        status = STATUS_CYCLE[(i // 7) % 20]
        ts = SEED_BASE + timedelta(seconds=i)
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "template_id": base.templates[name],
                "template_version_id": base.versions[name],
                "conversation_id": f"seed-{i}",
                "user_id": f"bench_user_{i % N_USERS}",
                "status": status,
                "state_data": {"amount": 1000 + i, "purpose": "seeded"},
                "pending_dependencies": {},
                "waiting_for": {"name": "kyc", "type": "api"} if status == "waiting" else None,
                "row_version": 1,
                "event_seq": 1,
                "status_reason": "",
                "started_at": ts,
                "completed_at": ts + timedelta(minutes=5) if status == "completed" else None,
                "last_interaction_at": ts,
                "updated_at": ts,
            }
        )
    return rows


PG_SEED = f"""
INSERT INTO workflows (id, template_id, template_version_id, conversation_id, user_id, status, state_data,
    pending_dependencies, waiting_for, row_version, event_seq, status_reason, started_at, completed_at,
    last_interaction_at, updated_at)
SELECT gen_random_uuid(),
       (%(tids)s::uuid[])[1 + i %% 4],
       (%(vids)s::int[])[1 + i %% 4],
       'seed-' || i,
       'bench_user_' || (i %% {N_USERS}),
       (%(statuses)s::text[])[1 + (i / 7) %% 20],
       jsonb_build_object('amount', 1000 + i, 'purpose', 'seeded'),
       '{{}}'::jsonb,
       CASE WHEN (%(statuses)s::text[])[1 + (i / 7) %% 20] = 'waiting'
            THEN '{{"name": "kyc", "type": "api"}}'::jsonb END,
       1, 1, '',
       %(base)s::timestamptz + i * interval '1 second',
       CASE WHEN (%(statuses)s::text[])[1 + (i / 7) %% 20] = 'completed'
            THEN %(base)s::timestamptz + i * interval '1 second' + interval '5 minutes' END,
       %(base)s::timestamptz + i * interval '1 second',
       %(base)s::timestamptz + i * interval '1 second'
FROM generate_series(%(start)s, %(stop)s - 1) AS i
"""


def seed_workflows(app, base: Base, total: int) -> int:
    """Grow the seeded workflows to `total` (rows seed-0 .. seed-<total-1>); returns how many
    were added."""
    start, stop = base.seeded, total
    if stop <= start:
        return 0
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            names = _template_order(base)
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    PG_SEED,
                    {
                        "tids": [str(base.templates[n]) for n in names],
                        "vids": [base.versions[n] for n in names],
                        "statuses": STATUS_CYCLE,
                        "base": SEED_BASE,
                        "start": start,
                        "stop": stop,
                    },
                )
                # what autovacuum would do soon after a bulk load
                conn.exec_driver_sql("ANALYZE workflows")
        else:
            rng = random.Random(start)
            table = Workflow.__table__
            chunk = 20_000
            with engine.begin() as conn:
                for lo in range(start, stop, chunk):
                    conn.execute(table.insert(), _rows(base, lo, min(stop, lo + chunk), rng))
    base.seeded = stop
    return stop - start


def delete_workflows(app) -> None:
    """Remove every workflow (and its events and jobs)."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.delete(Job.__table__))
        conn.execute(sa.delete(WorkflowEvent.__table__))
        conn.execute(sa.delete(Workflow.__table__))


def open_workflow_ids(app, base: Base, n: int) -> list[str]:
    """n active bench_loan workflows, inserted directly, for the PUT benchmark."""
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": uuid.uuid4(),
                "template_id": base.templates[TEMPLATE],
                "template_version_id": base.versions[TEMPLATE],
                "conversation_id": f"put-{i}",
                "user_id": f"bench_user_{i % N_USERS}",
                "status": "active",
                "state_data": {},
                "pending_dependencies": {},
                "waiting_for": None,
                "row_version": 1,
                "event_seq": 0,
                "status_reason": "",
                "started_at": now,
                "completed_at": None,
                "last_interaction_at": now,
                "updated_at": now,
            }
        )
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(Workflow.__table__.insert(), rows)
    return [str(r["id"]) for r in rows]


def completed_with_jobs(app, base: Base, receiver_url: str, n: int, tag: str) -> None:
    """n completed bench_loan workflows, each with its end action due in the outbox (the rows
    that completing writes, as enqueue_end_action builds them)."""
    now = datetime.now(UTC)
    wf_rows, job_rows = [], []
    for i in range(n):
        wid = uuid.uuid4()
        state = {"amount": 5000 + i, "purpose": "dispatch"}
        wf_rows.append(
            {
                "id": wid,
                "template_id": base.templates[TEMPLATE],
                "template_version_id": base.versions[TEMPLATE],
                "conversation_id": f"{tag}-{i}",
                "user_id": f"bench_user_{i % N_USERS}",
                "status": "completed",
                "state_data": state,
                "pending_dependencies": {},
                "waiting_for": None,
                "row_version": 3,
                "event_seq": 2,
                "status_reason": "",
                "started_at": now,
                "completed_at": now,
                "last_interaction_at": now,
                "updated_at": now,
            }
        )
        job_rows.append(
            {
                "kind": "end_action",
                "workflow_id": wid,
                "idempotency_key": str(uuid.uuid4()),
                "payload": {
                    "type": "api_call",
                    "target": {"endpoint": receiver_url, "method": "POST", "timeout_s": 5},
                    "body": {
                        "workflow_id": str(wid),
                        "template": TEMPLATE,
                        "template_version": 1,
                        "user_id": f"bench_user_{i % N_USERS}",
                        "conversation_id": f"{tag}-{i}",
                        "state_data": state,
                        "completed_at": now.isoformat().replace("+00:00", "Z"),
                    },
                },
                "status": "pending",
                "attempts": 0,
                "max_attempts": 8,
                "next_attempt_at": now,
                "locked_until": None,
                "locked_by": "",
                "last_error": "",
                "created_at": now,
                "finished_at": None,
            }
        )
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(Workflow.__table__.insert(), wf_rows)
        conn.execute(Job.__table__.insert(), job_rows)
