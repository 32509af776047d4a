"""One SQLite file used by several engines of one process and by other processes (a second app
created beside a running one, worker processes that start and stop): what one commits, the
others read."""

import subprocess
import sys

import pytest
import sqlalchemy as sa
from conftest import PG_URL

from wfapp.db_setup import configure_engine

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's WAL and its file locks: runs on SQLite only")


def _in_another_process(path, sql: str) -> str:
    code = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=10)\n"
        "print(c.execute(sys.argv[2]).fetchall())\n"
        "c.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), sql], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_second_engine_on_the_file_keeps_the_first_ones_commits_visible(tmp_path):
    path = tmp_path / "shared.sqlite"
    first = sa.create_engine(f"sqlite:///{path}")
    configure_engine(first, 10)
    with first.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (name TEXT)")
        conn.exec_driver_sql("INSERT INTO items VALUES ('before')")
    # a second app on the same file, in the same process, while the first keeps its connection
    second = sa.create_engine(f"sqlite:///{path}")
    configure_engine(second, 10)
    # a worker process reads, then stops: its connection was the last one it knew of
    assert _in_another_process(path, "SELECT name FROM items") == "[('before',)]"
    with first.begin() as conn:
        conn.exec_driver_sql("INSERT INTO items VALUES ('after')")
    # the next process reads what the first engine committed (not a WAL deleted under it)
    assert _in_another_process(path, "SELECT name FROM items ORDER BY rowid") == "[('before',), ('after',)]"
    with second.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM items").scalar() == 2
    first.dispose()
    second.dispose()
