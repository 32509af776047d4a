"""Database settings that matter (docs/architecture.md): SQLite in WAL mode with synchronous=NORMAL,
foreign keys on, a busy timeout, and write transactions that begin with BEGIN IMMEDIATE."""

import fcntl
import os
import threading
import weakref
from contextvars import ContextVar

import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy import event

from wfapp.extensions import db

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# True while a write request is handled: every transaction it begins (a second one after a
# rollback included) takes the write lock first.
WRITE_INTENT: ContextVar[bool] = ContextVar("wfapp_write_intent", default=False)


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def private_file(path: str | os.PathLike) -> None:
    """Make `path` (created empty if missing) readable by its owner alone (0600). SQLite gives a
    database's -wal, -shm and -journal files the mode of the database file, so they follow.

    A file that exists is never opened here: closing any descriptor of a database file drops
    every POSIX lock this process holds on it, SQLite's included. Another process closing its
    last connection would then take this one's connections for gone, check the WAL in and
    delete it under them, and their later commits would go to a file nobody else reads."""
    try:
        os.chmod(path, 0o600)
    except FileNotFoundError:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(f"{os.fspath(path)}{suffix}"):
            os.chmod(f"{os.fspath(path)}{suffix}", 0o600)


_configured_engines: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def configure_engine(engine: sa.Engine, busy_timeout_s: float) -> None:
    if not is_sqlite(engine) or engine in _configured_engines:
        return
    _configured_engines.add(engine)
    if engine.url.database not in (None, "", ":memory:") and not engine.url.database.startswith("file:"):
        private_file(engine.url.database)  # before the first connection creates it

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the driver, emit BEGIN (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    queue = WriterQueue(engine.url.database) if engine.url.database not in (None, "", ":memory:") else None

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(AUTOCOMMIT_READ):
            return  # read_outside_transaction: each statement is its own (SQLite autocommit)
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" when another writer got in between; a write transaction takes the lock first.
        if WRITE_INTENT.get() or conn.get_execution_options().get("sqlite_immediate"):
            if queue is not None and queue.acquire():
                conn.connection.info["wfapp_writer_queue"] = True
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    if queue is not None:

        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_conn, record):
            # The transaction has ended (the session returns its connection when it does).
            if record.info.pop("wfapp_writer_queue", False):
                queue.release()


class WriterQueue:
    """Writers of one SQLite file wait their turn here before BEGIN IMMEDIATE: a thread lock
    within the process, an flock(2) on a file beside the database between processes. Both wake
    the next writer the moment the lock is released, where SQLite's busy handler would poll
    with growing sleeps (up to 100 ms), which leaves the database idle under contention. A
    thread that already holds the lock (a second connection of the same request) goes straight
    to SQLite, as it would without the queue."""

    def __init__(self, database: str):
        self.path = f"{database}-writers.lock"
        self.lock = threading.Lock()
        self.local = threading.local()
        self.fd: int | None = None
        self.pid = os.getpid()

    def acquire(self) -> bool:
        if getattr(self.local, "holding", False):
            return False
        if self.pid != os.getpid():
            # a forked child: flock is shared by the file description it inherited, so it
            # needs its own (and a thread lock no thread of this process holds)
            self.pid, self.fd, self.lock = os.getpid(), None, threading.Lock()
        self.lock.acquire()
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.lock.release()
            raise
        self.local.holding = True
        return True

    def release(self) -> None:
        self.local.holding = False
        assert self.fd is not None  # released only after acquire opened it
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.lock.release()


AUTOCOMMIT_READ = "wfapp_autocommit_read"


def _plain(session):
    """The Session itself of a scoped_session (db.session), or the session given."""
    return session() if hasattr(session, "registry") else session


def read_outside_transaction(session, statement, params: dict | None = None) -> sa.Row | None:
    """The first row of a read-only `statement`. On SQLite, while the session has no transaction
    yet, it runs on a connection of its own in autocommit (no BEGIN, no lock): a write request
    checks who it comes from before it queues for the one writer, so that the queue holds only
    the change. Otherwise (PostgreSQL, or a transaction already begun) in the session's
    transaction."""
    session = _plain(session)
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or session.in_transaction():
        return session.execute(statement, params).first()
    with bind.connect().execution_options(**{AUTOCOMMIT_READ: True}) as conn:
        return conn.execute(statement, params).first()


def nothing_to_claim(session, statement, params: dict | None = None) -> bool:
    """SQLite: True when the read-only `statement` finds no row, read in autocommit (no BEGIN,
    no writer's lock), so that a dispatcher round with nothing due does not queue for the one
    writer. Always False on PostgreSQL, where claiming with SKIP LOCKED waits for nobody."""
    session = _plain(session)
    if session.get_bind().dialect.name != "sqlite" or session.in_transaction():
        return False
    return read_outside_transaction(session, statement, params) is None


def read_in_autocommit(session) -> None:
    """SQLite, when the session has no transaction yet: its next transaction reads in
    autocommit, with no BEGIN, each statement seeing the latest commit (as under PostgreSQL's
    read committed). For a request that only reads, such as a poll; a write of the request ends
    it first (a commit, then begin_write). No effect on PostgreSQL."""
    session = _plain(session)
    if session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={AUTOCOMMIT_READ: True})


def begin_write(session) -> None:
    """Start the session's transaction as a write transaction (SQLite: BEGIN IMMEDIATE).
    Has no effect once the transaction has begun, and none on PostgreSQL."""
    session = _plain(session)
    if not session.in_transaction():
        session.connection(execution_options={"sqlite_immediate": True})


def start_write(session) -> None:
    """From now on, every transaction of this request is a write transaction (SQLite: BEGIN
    IMMEDIATE); a read transaction already open is ended first."""
    if "wfapp.write_intent" in request.environ:
        return
    session = _plain(session)
    if session.in_transaction() and session.get_bind().dialect.name == "sqlite":
        session.commit()
    request.environ["wfapp.write_intent"] = WRITE_INTENT.set(True)


def check_wal(engine: sa.Engine) -> None:
    if not is_sqlite(engine) or engine.url.database in (None, "", ":memory:"):
        return
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        conn.rollback()
    if str(mode).lower() != "wal":
        raise RuntimeError(
            f"SQLite journal_mode is {mode!r}, not 'wal': the database file's filesystem "
            "must support shared memory (not a network share)"
        )


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        configure_engine(engine, app.config["SQLITE_BUSY_TIMEOUT_S"])
        check_wal(engine)

    @app.before_request
    def _write_requests_take_the_lock_first():
        # API operations call start_write themselves, before their token check
        if request.method in WRITE_METHODS and request.blueprint != "api":
            start_write(db.session)

    @app.teardown_request
    def _end_write_intent(_exc):
        token = request.environ.pop("wfapp.write_intent", None)
        if token is not None:
            WRITE_INTENT.reset(token)
