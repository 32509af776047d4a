"""Login hardening: lockout per account and per address that ends by itself, one answer for an
unknown user and a wrong password, a new session on login, logout and idle expiry that end the
session on the server (a copied cookie is worth nothing afterwards)."""

from datetime import timedelta

import sqlalchemy as sa
from pages_support import PASSWORD, csrf_from, make_staff, text

from wfapp.extensions import db as _db
from wfapp.models import AuditEntry, StaffSession


def attempt(client, username, password, addr="10.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": addr})
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(text(page))},
        environ_base={"REMOTE_ADDR": addr},
    )


def _age_audit(app, seconds: float) -> None:
    """Move every audit entry back in time (the lockout window passes)."""
    with app.app_context():
        for entry in _db.session.scalars(sa.select(AuditEntry)):
            entry.created_at = entry.created_at - timedelta(seconds=seconds)
        _db.session.commit()


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else ""


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client):
    make_staff(app, "alice", "admin")
    wrong = attempt(client, "alice", "not the password")
    unknown = attempt(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: text(r).replace("alice", "").replace("nobody-here", "")  # noqa: E731
    assert "Wrong username or password." in text(wrong)
    assert (
        strip(wrong).split("<main")[1].split("csrf_token")[0] == strip(unknown).split("<main")[1].split("csrf_token")[0]
    )


def test_account_lockout_and_it_ends_by_itself(app):
    make_staff(app, "bob", "operator")
    client = app.test_client()
    for i in range(5):
        assert attempt(client, "bob", f"guess {i}", addr=f"10.0.1.{i}").status_code == 401
    # the sixth try, even with the right password and from another address, is refused
    r = attempt(client, "bob", PASSWORD, addr="10.0.2.1")
    assert r.status_code == 429 and "Too many failed sign-ins" in text(r)
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert client.get("/workflow-templates/").status_code == 302
    # an unknown name is locked the same way (the answer tells nothing about which names exist)
    for i in range(5):
        attempt(client, "ghost", f"guess {i}", addr=f"10.0.3.{i}")
    assert attempt(client, "ghost", "x", addr="10.0.4.1").status_code == 429
    # once the window has passed, the right password works again
    _age_audit(app, 15 * 60 + 1)
    r = attempt(client, "bob", PASSWORD, addr="10.0.2.1")
    assert r.status_code == 303
    assert client.get("/workflow-templates/").status_code == 200


def test_locked_attempts_do_not_extend_the_lockout(app, db):
    make_staff(app, "carl", "viewer")
    client = app.test_client()
    for i in range(5):
        attempt(client, "carl", f"guess {i}")
    for _ in range(3):
        assert attempt(client, "carl", "again").status_code == 429
    assert db.count(AuditEntry, AuditEntry.action == "login_failed", AuditEntry.actor == "carl") == 5
    assert db.count(AuditEntry, AuditEntry.action == "login_locked", AuditEntry.actor == "carl") == 3
    _age_audit(app, 15 * 60 + 1)
    assert attempt(client, "carl", PASSWORD).status_code == 303


def test_address_lockout_across_accounts(app):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    make_staff(app, "dora", "admin")
    client = app.test_client()
    for i in range(6):
        attempt(client, f"user{i}", "spray", addr="192.0.2.7")
    assert attempt(client, "dora", PASSWORD, addr="192.0.2.7").status_code == 429
    # the same account from another address is not blocked by that address's failures
    assert attempt(client, "dora", PASSWORD, addr="192.0.2.8").status_code == 303


def test_a_successful_login_resets_the_account_count(app):
    make_staff(app, "erik", "admin")
    client = app.test_client()
    for i in range(4):
        attempt(client, "erik", f"guess {i}")
    assert attempt(client, "erik", PASSWORD).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_from(text(client.get("/workflow-templates/")))})
    for i in range(4):
        assert attempt(client, "erik", f"again {i}").status_code == 401
    assert attempt(client, "erik", PASSWORD).status_code == 303


def test_session_is_rotated_on_login(app, db):
    make_staff(app, "fay", "admin")
    client = app.test_client()
    client.get("/login")
    before = _session_cookie(client)
    assert before  # the anonymous session (it holds the CSRF secret)
    r = attempt(client, "fay", PASSWORD)
    assert r.status_code == 303
    after = _session_cookie(client)
    assert after and after != before
    # a second login makes a second, different server-side session
    other = app.test_client()
    attempt(other, "fay", PASSWORD)
    rows = db.scalars(sa.select(StaffSession))
    assert len(rows) == 2 and len({s.id for s in rows}) == 2


def test_logout_ends_the_session_even_for_a_copied_cookie(app):
    make_staff(app, "gus", "admin")
    client = app.test_client()
    attempt(client, "gus", PASSWORD)
    stolen = _session_cookie(client)
    assert client.get("/workflow-templates/").status_code == 200
    token = csrf_from(text(client.get("/workflow-templates/")))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/workflow-templates/").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/workflow-templates/").status_code == 302


def test_idle_sessions_expire(app, db):
    app.config["SESSION_IDLE_MINUTES"] = 30
    make_staff(app, "hal", "viewer")
    client = app.test_client()
    attempt(client, "hal", PASSWORD)
    assert client.get("/workflow-templates/").status_code == 200

    def idle(minutes):
        with app.app_context():
            for record in _db.session.scalars(sa.select(StaffSession)):
                record.last_seen_at = record.last_seen_at - timedelta(minutes=minutes)
            _db.session.commit()

    idle(20)  # within the limit: still in, and the visit is recorded
    assert client.get("/workflow-templates/").status_code == 200
    idle(20)  # 20 minutes since that visit: still in
    assert client.get("/workflow-templates/").status_code == 200
    idle(31)
    r = client.get("/workflow-templates/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert db.scalar(sa.select(StaffSession.ended_at)) is not None
    # HTMX requests of an expired session are sent to the login page too
    assert client.get("/workflow-templates/", headers={"HX-Request": "true"}).status_code == 401


def test_idle_limit_is_configurable_from_the_environment(monkeypatch, tmp_path):
    from wfapp import create_app

    monkeypatch.setenv("WFAPP_SESSION_IDLE_MINUTES", "5")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "i"),
            "SECRET_KEY": "x",
            "SIGNING_SECRET": "x",
            "DISPATCHER_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
        }
    )
    assert app.config["SESSION_IDLE_MINUTES"] == 5
    with app.app_context():
        _db.engine.dispose()


def test_login_failures_are_audited_with_address(app, db):
    make_staff(app, "ivy", "admin")
    attempt(app.test_client(), "ivy", "nope", addr="203.0.113.9")
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == "login_failed"))
    assert entry.actor == "ivy" and entry.remote_addr == "203.0.113.9" and entry.changes == {}
