"""Fixtures: app (a fresh database per test: SQLite file, or PostgreSQL when
WFAPP_TEST_DATABASE_URL is set), client, api (token-authenticated JSON calls per role),
factories, a live HTTP server."""

import os
import shutil
import threading
import uuid
from typing import Any

import pages_support
import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from browser_support import CHROMIUM, CHROMIUM_ARGS
from werkzeug.serving import make_server

from wfapp import create_app
from wfapp.extensions import db as _db
from wfapp.schemas.state_schema import clear_cache
from wfapp.services import public_events


def _worker_url(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database, `<db>_<worker id>`, so
    workers never truncate or see each other's rows; a serial run uses the database as given."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = sa.make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


# Every test module (and every child process a test starts) uses this URL, never the variable itself.
PG_URL = _worker_url(os.environ.get("WFAPP_TEST_DATABASE_URL", ""))
TEST_HASH_METHOD = "pbkdf2:sha256:1000"

LOAN_SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis names its items `test_api_operation[GET /api/…]` but gives them all the node id
    `…::test_api_operation`; pytest-xdist hands out tests by node id, so it would run one operation
    in place of every one. Give each item the id its name says."""
    for item in items:
        if "[" in item.name and not item.nodeid.endswith("]") and item.parent is not None:
            item._id = type(item._id).parse(f"{item.parent.nodeid}::{item.name}")


def _reset_postgres(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in _db.metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _create_database_if_missing(url: str) -> None:
    """CREATE DATABASE through the `postgres` maintenance database, when the worker's is missing."""
    parsed = sa.make_url(url)
    engine = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    finally:
        engine.dispose()


# Per process (each xdist worker is one): the first test drops and recreates the schema, later ones truncate.
_pg_schema_ready = False


@pytest.fixture
def app(tmp_path):
    global _pg_schema_ready
    config: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "SIGNING_SECRET": "test-signing-secret",
        "DISPATCHER_ENABLED": False,
        # scrypt costs ~0.1 s a hash; the staff fixtures hash and log in hundreds of times.
        "PASSWORD_HASH_METHOD": TEST_HASH_METHOD,
        "SQLALCHEMY_DATABASE_URI": PG_URL or f"sqlite:///{tmp_path / 'test.sqlite'}",
    }
    if PG_URL and not _pg_schema_ready and os.environ.get("PYTEST_XDIST_WORKER"):
        _create_database_if_missing(PG_URL)
    app = create_app(config)
    with app.app_context():
        if PG_URL:
            if not _pg_schema_ready:
                _db.drop_all()
                _db.create_all()
                _pg_schema_ready = True
            else:
                _reset_postgres(_db.engine)
        else:
            _db.create_all()
    clear_cache()
    # Each process caches the event subscriptions per database for a short while; every test
    # starts with an empty database (on PostgreSQL the same one), so with no subscriptions.
    public_events.invalidate()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class DbProbe:
    """What is in the database right now: each call runs in a fresh session and transaction (so
    no snapshot goes stale between API calls) and returns detached, fully loaded objects."""

    def __init__(self, app):
        self.app = app

    def _run(self, fn):
        with self.app.app_context(), so.Session(_db.engine, expire_on_commit=False) as session:
            result = fn(session)
            session.expunge_all()
            return result

    def scalars(self, query) -> list:
        return self._run(lambda s: list(s.scalars(query)))

    def scalar(self, query):
        return self._run(lambda s: s.scalar(query))

    def get(self, model, ident):
        return self._run(lambda s: s.get(model, ident))

    def count(self, model, *where) -> int:
        q = sa.select(sa.func.count()).select_from(model)
        for w in where:
            q = q.where(w)
        return self.scalar(q)


@pytest.fixture
def db(app):
    return DbProbe(app)


class Api:
    """JSON calls with a token of a given role."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        self.tokens: dict[str, str] = {}

    def token(self, role: str) -> str:
        if role not in self.tokens:
            from wfapp.services.tokens import create_token

            with self.app.app_context():
                _t, secret = create_token(_db.session, f"test-{role}", role)
                _db.session.commit()
            self.tokens[role] = secret
        return self.tokens[role]

    def headers(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}", **extra}

    def call(self, method: str, path: str, json: Any = None, role: str = "admin", headers=None, **kw):
        h = self.headers(role)
        h.update(headers or {})
        return self.client.open(path, method=method, json=json, headers=h, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(app, client):
    return Api(app, client)


@pytest.fixture
def make_user_type(api):
    def make(id: str | None = None, **kw):
        id = id or f"type_{uuid.uuid4().hex[:8]}"
        r = api.post("/api/user-types", {"id": id, **kw})
        assert r.status_code == 201, r.json
        return r.json

    return make


@pytest.fixture
def make_end_user(api, make_user_type):
    def make(id: str | None = None, user_type_id: str | None = None, **kw):
        user_type_id = user_type_id or make_user_type()["id"]
        r = api.post("/api/users", {"id": id or f"user_{uuid.uuid4().hex[:8]}", "user_type_id": user_type_id, **kw})
        assert r.status_code == 201, r.json
        return r.json

    return make


@pytest.fixture
def make_workflow_template(api):
    def make(name: str | None = None, grant_to: list[str] | tuple[str, ...] = (), **kw):
        body = {"name": name or f"wt_{uuid.uuid4().hex[:8]}", "state_schema": LOAN_SCHEMA, **kw}
        r = api.post("/api/workflow-templates", body)
        assert r.status_code == 201, r.json
        for user_type_id in grant_to:
            g = api.post("/api/permissions", {"user_type_id": user_type_id, "workflow_template_id": r.json["id"]})
            assert g.status_code == 201, g.json
        return r.json

    return make


@pytest.fixture
def make_workflow(api, make_end_user, make_workflow_template, make_user_type):
    """A started workflow; creates the template, user type, grant and end user it needs."""

    def make(
        template: dict | None = None,
        user: dict | None = None,
        conversation_id: str | None = None,
        role: str = "integration",
        **template_kw,
    ):
        if user is None:
            user = make_end_user()
        if template is None:
            template = make_workflow_template(grant_to=[user["user_type_id"]], **template_kw)
        else:
            api.post("/api/permissions", {"user_type_id": user["user_type_id"], "workflow_template_id": template["id"]})
        r = api.post(
            "/api/workflows",
            {
                "template_id": template["id"],
                "user_id": user["id"],
                "conversation_id": conversation_id or f"conv_{uuid.uuid4().hex[:8]}",
            },
            role=role,
        )
        assert r.status_code == 201, r.json
        return r.json

    return make


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # a short poll interval: shutdown() waits up to one interval
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


# Signed-in dashboard sessions of one staff user per role (pages_support.Staff).
@pytest.fixture
def admin(app):
    return pages_support.Staff(app, "admin")


@pytest.fixture
def operator(app):
    return pages_support.Staff(app, "operator")


@pytest.fixture
def viewer(app):
    return pages_support.Staff(app, "viewer")


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium (Debian's, driven by Playwright) per test process: starting it costs
    about 2 s. Tests take `browser`, which gives each its own contexts."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def browser(chromium):
    """The shared Chromium; the contexts (cookies, storage, pages) a test opens are closed after it."""
    before = set(chromium.contexts)
    yield chromium
    for context in chromium.contexts:
        if context not in before:
            context.close()
