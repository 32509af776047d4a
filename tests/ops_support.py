"""Helpers of the operations tests."""

import socket

import sqlalchemy as sa

from wfapp.extensions import db
from wfapp.ops.health import migration_heads


def set_revision(app, revision: str | None) -> None:
    """Write the Alembic revision the way `flask db upgrade` leaves it (the test databases are made
    with create_all and carry none); None removes the table."""
    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        if revision is not None:
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})


def stamp_head(app) -> str:
    (head,) = migration_heads(app)
    set_revision(app, head)
    return head


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
