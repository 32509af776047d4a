"""A page never fails because its audit row cannot be written: the reveal of sensitive values is
recorded best effort, in a short transaction of its own (SQLite: another writer holding the
lock longer than the busy timeout)."""

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from pages_support import Staff, text

from wfapp import create_app
from wfapp.extensions import db as _db
from wfapp.models import AuditEntry
from wfapp.schemas.state_schema import clear_cache

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="the lock is SQLite's")
SCHEMA = {"national_id": {"type": "string", "sensitive": True, "title": "National id"}, "amount": {"type": "number"}}


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
            "SIGNING_SECRET": "test-signing-secret",
            "DISPATCHER_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite'}",
            "SQLITE_BUSY_TIMEOUT_S": 0.3,
        }
    )
    with app.app_context():
        _db.create_all()
    clear_cache()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


def test_the_timeline_answers_while_another_writer_holds_the_database(app, api, make_workflow):
    operator = Staff(app, "operator")
    wf = make_workflow(state_schema=SCHEMA)
    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"national_id": "AB123456C"}})
    with app.app_context():
        path = _db.engine.url.database

    held, release = threading.Event(), threading.Event()

    def writer():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("ROLLBACK")
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(5)
        for url in (f"/workflows/{wf['id']}/timeline", f"/workflows/{wf['id']}/form", f"/workflows/{wf['id']}"):
            r = operator.get(url, htmx=url.endswith(("timeline", "form")))
            assert r.status_code == 200, (url, text(r)[:500])
            assert "AB123456C" in text(r)
    finally:
        release.set()
        t.join(5)

    # once the database is free, reveals are recorded again
    assert operator.get(f"/workflows/{wf['id']}").status_code == 200
    with app.app_context():
        rows = _db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "sensitive_revealed")).all()
        assert rows and rows[-1].changes["fields"] == ["national_id"]
