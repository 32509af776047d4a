"""The workflows monitor with 100,000 workflows in SQLite: server time of its first page, of a
page 1,000 pages deep (keyset cursor, 50 rows a page), of the same deep page filtered by status
and workflow template, and of an unchanged live poll (204). Printed figures, not a timed test:

    .venv/bin/python tests/perf/bench_monitor.py [--workflows 100000] [--requests 30]

Server time = the time the WSGI app takes to answer through Flask's test client, in-process
(no network), after a warm-up; p50 and p95 over the requests, and the SQL statements one
request runs. Budget (issue 5): each page within 100 ms.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

from wfapp import create_app  # noqa: E402
from wfapp.extensions import db  # noqa: E402
from wfapp.models import EndUser, UserType, Workflow  # noqa: E402
from wfapp.services.monitor import monitor_token  # noqa: E402
from wfapp.services.staff import create_staff_user  # noqa: E402
from wfapp.services.workflow_templates import create_workflow_template  # noqa: E402
from wfapp.services.workflows import encode_cursor  # noqa: E402

PAGE = 50
STATUSES = ["active"] * 6 + ["waiting"] * 2 + ["completed"] * 8 + ["cancelled"] * 3 + ["failed"]
PASSWORD = "bench password 1"


def build(app, total: int) -> dict:
    with app.app_context():
        db.create_all()
        db.session.add(UserType(id="bench", name="bench"))
        templates = []
        for name in ("loan_application", "kyc_check", "address_change", "card_order"):
            t = create_workflow_template(db.session, {"name": name, "state_schema": {
                "amount": {"type": "number", "required": True}, "purpose": {"type": "string"}}}, "bench")
            templates.append(t)
        db.session.flush()
        users = [f"user_{i}" for i in range(1000)]
        db.session.add_all([EndUser(id=u, user_type_id="bench") for u in users])
        create_staff_user(db.session, "bench_operator", PASSWORD, "operator")
        db.session.commit()
        ids = [(t.id, t.current_version_id) for t in templates]
        db.session.rollback()  # end the read snapshot before the bulk insert
        rng = random.Random(7)
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        table = Workflow.__table__
        t0 = time.time()
        with db.engine.begin() as conn:
            for lo in range(0, total, 20_000):
                rows = []
                for i in range(lo, min(total, lo + 20_000)):
                    tid, vid = ids[i % 4]
                    status = STATUSES[(i // 3) % len(STATUSES)]
                    ts = base + timedelta(seconds=i * 7)
                    rows.append({
                        "id": uuid.UUID(int=rng.getrandbits(128), version=4), "template_id": tid,
                        "template_version_id": vid, "conversation_id": f"conv-{i}", "user_id": users[i % 1000],
                        "status": status, "state_data": {"amount": 1000 + i, "purpose": "bench"},
                        "pending_dependencies": {}, "waiting_for": {"name": "kyc"} if status == "waiting" else None,
                        "row_version": 1, "event_seq": 1, "status_reason": "", "started_at": ts,
                        "completed_at": ts + timedelta(minutes=5) if status == "completed" else None,
                        "last_interaction_at": ts, "updated_at": ts,
                    })
                conn.execute(table.insert(), rows)
            conn.exec_driver_sql("ANALYZE")
        print(f"seeded {total:,} workflows in {time.time() - t0:.1f} s")
        db.session.rollback()
        deep = 1000 * PAGE
        at, wid = db.session.execute(sa.select(Workflow.started_at, Workflow.id)
                                     .order_by(Workflow.started_at.desc(), Workflow.id.desc())
                                     .offset(deep - 1).limit(1)).one()
        where = sa.and_(Workflow.status == "active", Workflow.template_id == ids[0][0])
        n_filtered = db.session.scalar(sa.select(sa.func.count()).select_from(Workflow).where(where))
        f_at, f_id = db.session.execute(sa.select(Workflow.started_at, Workflow.id).where(where)
                                        .order_by(Workflow.started_at.desc(), Workflow.id.desc())
                                        .offset(min(deep, n_filtered) * 9 // 10).limit(1)).one()
        token = monitor_token(db.session)
        db.session.rollback()
        return {"cursor": encode_cursor(at, wid), "filtered_cursor": encode_cursor(f_at, f_id),
                "filtered_rows": n_filtered, "token": token}


@contextmanager
def counting(app):
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def on_execute(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def login(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": "bench_operator", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.status_code
    return client


def measure(app, client, label: str, path: str, n: int, headers=None, expect=200) -> bool:
    for _ in range(3):
        r = client.get(path, headers=headers or {})
        assert r.status_code == expect, (path, r.status_code, r.get_data(as_text=True)[:300])
    with counting(app) as stmts:
        r = client.get(path, headers=headers or {})
    rows = r.get_data(as_text=True).count('<tr id="wf-')
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(path, headers=headers or {})
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    ok = p95 < 100
    print(f"{label:<48} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   {len(stmts)} statements   "
          f"{rows:>3} rows   HTTP {r.status_code}   {'OK' if ok else 'OVER 100 ms'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp) / 'bench.sqlite'}",
                          "SECRET_KEY": "bench", "SIGNING_SECRET": "bench", "DISPATCHER_ENABLED": False})
        for name in ("wfapp.request", "wfapp.jobs"):  # one JSON line per request would drown the figures
            logging.getLogger(name).setLevel(logging.WARNING)
        info = build(app, args.workflows)
        client = login(app)
        print(f"SQLite, {args.workflows:,} workflows, {PAGE} rows a page; server time over {args.requests} requests")
        results = [
            measure(app, client, "monitor, first page", "/workflows/", args.requests),
            measure(app, client, "monitor, page 1,000 deep", f"/workflows/?cursor={info['cursor']}", args.requests),
            measure(app, client, f"monitor, status+template, deep ({info['filtered_rows']:,} match)",
                    f"/workflows/?status=active&template=loan_application&cursor={info['filtered_cursor']}",
                    args.requests),
            measure(app, client, "monitor, first page as a fragment (HTMX)", "/workflows/", args.requests,
                    {"HX-Request": "true"}),
            measure(app, client, "monitor, unchanged live poll (204)", f"/workflows/live?since={info['token']}",
                    args.requests * 3, {"HX-Request": "true"}, expect=204),
        ]
        with app.app_context():
            db.engine.dispose()
    print("all within 100 ms" if all(results) else "SOME PAGES OVER 100 ms")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
