"""The baseline: a minimal Flask + SQLAlchemy app that updates one JSON row per request, on the
same database, with the same database settings and served by the same gunicorn setup as wfapp.

    BENCH_DATABASE_URL=... gunicorn -w 2 'tests.perf.baseline_app:app'

PUT /docs/<id> with {"state_data": {...}}: in one transaction, read the row under a lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), merge the object into its JSON
document, write it back, commit, answer the document as JSON.
"""

import os

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
docs = sa.Table(
    "bench_baseline_docs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("doc", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
)


def make_engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        # The settings wfapp uses (wfapp/db_setup.py): WAL, synchronous=NORMAL, a busy timeout,
        # write transactions that take the lock first.
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_docs(engine: sa.Engine, n: int) -> None:
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(docs.insert(), [{"id": i, "doc": {}, "version": 1} for i in range(1, n + 1)])


def create_app() -> Flask:
    app = Flask(__name__)
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])

    @app.put("/docs/<int:doc_id>")
    def update_doc(doc_id: int):
        patch = (request.get_json() or {}).get("state_data") or {}
        with engine.begin() as conn:
            row = conn.execute(
                sa.select(docs.c.doc, docs.c.version).where(docs.c.id == doc_id).with_for_update()
            ).first()
            if row is None:
                return jsonify({"error": "not found"}), 404
            doc = {**row.doc, **patch}
            conn.execute(docs.update().where(docs.c.id == doc_id).values(doc=doc, version=row.version + 1))
        return jsonify({"id": doc_id, "doc": doc, "version": row.version + 1})

    return app


app = create_app() if os.environ.get("BENCH_DATABASE_URL") else None
