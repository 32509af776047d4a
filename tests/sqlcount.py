"""Counting the SQL statements an app sends (the query-count tests and the benchmarks)."""

import contextlib

from sqlalchemy import event

from wfapp.extensions import db


@contextlib.contextmanager
def counting(app):
    """The SQL statements sent while the block runs (SQLAlchemy's before_cursor_execute)."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def on_execute(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
