"""flask backup / restore on SQLite: a copy taken while writes go on restores to a database that
passes its integrity check and holds every workflow committed before the copy."""

import sqlite3
import threading
import time
import uuid
from contextlib import closing

import pytest
import sqlalchemy as sa
from conftest import PG_URL
from ops_support import set_revision, stamp_head

from wfapp.extensions import db as _db
from wfapp.models import Workflow

pytestmark = pytest.mark.skipif(
    bool(PG_URL),
    reason="backup and restore use SQLite's online backup API; "
    "on PostgreSQL use pg_dump/pg_restore (README, Operations)",
)


def ids_in(path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {str(uuid.UUID(str(r[0]))) for r in conn.execute("SELECT id FROM workflows")}


def workflows_without_start_event(path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT count(*) FROM workflows w WHERE NOT EXISTS (SELECT 1 FROM workflow_events e "
            "WHERE e.workflow_id = w.id AND e.seq = 1)"
        ).fetchone()[0]


def integrity(path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def live_path(app):
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_backup_while_writing_then_restore(app, api, db, make_end_user, make_workflow_template, tmp_path):
    stamp_head(app)
    user = make_end_user()
    template = make_workflow_template(grant_to=[user["user_type_id"]])
    headers = api.headers("integration")
    committed: list[str] = []  # ids whose start was answered 201, i.e. committed
    failures: list = []
    stop = threading.Event()

    def writer():
        client = app.test_client()
        i = 0
        while not stop.is_set():
            r = client.post(
                "/api/workflows",
                json={"template_id": template["id"], "user_id": user["id"], "conversation_id": f"conv-{i}"},
                headers=headers,
            )
            if r.status_code == 201:
                committed.append(r.json["id"])
            else:
                failures.append((r.status_code, r.json))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(committed) >= 15)
        before = set(committed)
        dest = tmp_path / "wfapp-backup.sqlite"
        result = app.test_cli_runner().invoke(args=["backup", str(dest)])
        assert result.exit_code == 0, result.output
        assert "integrity ok" in result.output
        n = len(committed)
        wait_until(lambda: len(committed) >= n + 5)  # writes went on after the copy
    finally:
        stop.set()
        thread.join(30)
    assert not failures
    everything = set(committed)

    in_backup = ids_in(dest)
    assert integrity(dest) == "ok"
    assert before <= in_backup <= everything  # every committed workflow, nothing half-written
    assert workflows_without_start_event(dest) == 0  # each with its history: whole transactions only
    assert everything - in_backup  # the later ones are not in it

    result = app.test_cli_runner().invoke(args=["restore", str(dest), "--yes"])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output
    live = live_path(app)
    assert integrity(live) == "ok"
    assert {str(w) for w in db.scalars(sa.select(Workflow.id))} == in_backup
    with closing(sqlite3.connect(live)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    kept = list(tmp_path.glob("test.sqlite.before-restore-*"))
    assert len(kept) == 1 and ids_in(kept[0]) == everything  # the replaced database is kept

    # the running app reads the restored database
    some = sorted(before)[0]
    assert api.get(f"/api/workflows/{some}").status_code == 200
    gone = sorted(everything - in_backup)[0]
    assert api.get(f"/api/workflows/{gone}").status_code == 404
    r = api.post(
        "/api/workflows",
        {"template_id": template["id"], "user_id": user["id"], "conversation_id": "after-restore"},
        role="integration",
    )
    assert r.status_code == 201


def test_restore_refuses_what_it_should_not_put_back(app, api, db, make_workflow, tmp_path):
    stamp_head(app)
    wf = make_workflow()
    runner = app.test_cli_runner()
    good = tmp_path / "good.sqlite"
    assert runner.invoke(args=["backup", str(good)]).exit_code == 0

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 500)
    r = runner.invoke(args=["restore", str(garbage), "--yes"])
    assert r.exit_code != 0 and "integrity" in r.output

    not_wfapp = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(not_wfapp)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    r = runner.invoke(args=["restore", str(not_wfapp), "--yes"])
    assert r.exit_code != 0 and "not a wfapp database" in r.output

    newer = tmp_path / "newer.sqlite"
    newer.write_bytes(good.read_bytes())
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        conn.commit()
    r = runner.invoke(args=["restore", str(newer), "--yes"])
    assert r.exit_code != 0 and "does not know" in r.output

    r = runner.invoke(args=["restore", str(tmp_path / "missing.sqlite"), "--yes"])
    assert r.exit_code != 0

    # none of that touched the live database
    assert not list(tmp_path.glob("*.before-restore-*"))
    assert db.get(Workflow, uuid.UUID(wf["id"])) is not None
    assert integrity(live_path(app)) == "ok"

    # and without --yes it asks first
    r = runner.invoke(args=["restore", str(good)], input="n\n")
    assert r.exit_code != 0 and "replace" in r.output
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_backup_into_a_folder_and_never_over_a_file(app, tmp_path):
    stamp_head(app)
    runner = app.test_cli_runner()
    folder = tmp_path / "backups"
    folder.mkdir()
    r = runner.invoke(args=["backup", str(folder)])
    assert r.exit_code == 0, r.output
    (made,) = folder.glob("wfapp-*.sqlite")
    assert integrity(made) == "ok"
    r = runner.invoke(args=["backup", str(made)])
    assert r.exit_code != 0 and "exists already" in r.output
    assert not list(folder.glob("*.partial"))


def test_backup_of_an_unmigrated_database_is_refused_at_restore(app, tmp_path):
    set_revision(app, None)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", str(tmp_path / "b.sqlite")]).exit_code == 0
    r = runner.invoke(args=["restore", str(tmp_path / "b.sqlite"), "--yes"])
    assert r.exit_code != 0 and "no migration revision" in r.output
    with app.app_context():
        _db.engine.dispose()
