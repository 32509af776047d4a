"""Staff login and logout, the layout, security headers and error pages."""

import pytest
from pages_support import HX, PASSWORD, csrf_from, is_fragment, make_staff, text

from wfapp.errors import Conflict, ValidationFailed
from wfapp.extensions import db as _db
from wfapp.models import AuditEntry
from wfapp.services.staff import authenticate, create_staff_user


def login(client, username, password):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_from(text(page))})


def test_anonymous_is_sent_to_login_and_back(app, client):
    make_staff(app, "alice", "admin")
    r = client.get("/workflow-templates/")
    assert r.status_code == 302 and "/login?next=/workflow-templates/" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    r = client.post(
        r.headers["Location"], data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(text(page))}
    )
    assert r.status_code == 303 and r.headers["Location"] == "/workflow-templates/"
    page = client.get("/workflow-templates/")
    assert page.status_code == 200
    body = text(page)
    assert "alice" in body and "role-admin" in body and "Sign out" in body
    assert 'hx-headers=\'{"X-CSRFToken":' in body


def test_htmx_request_of_anonymous_gets_hx_redirect(client):
    r = client.get("/workflow-templates/", headers=HX)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


def test_wrong_password_is_refused_and_audited(app, client, db):
    make_staff(app, "bob", "viewer")
    r = login(client, "bob", "wrong password")
    assert r.status_code == 401 and "Wrong username or password" in text(r)
    assert client.get("/workflow-templates/").status_code == 302
    assert db.count(AuditEntry, AuditEntry.action == "login_failed") == 1


def test_open_redirect_is_refused(app, client):
    make_staff(app, "carol", "viewer")
    page = client.get("/login?next=//evil.example/x")
    r = client.post(
        "/login?next=//evil.example/x",
        data={"username": "carol", "password": PASSWORD, "csrf_token": csrf_from(text(page))},
    )
    assert r.status_code == 303 and "evil" not in r.headers["Location"]


def test_login_without_csrf_is_refused(app, client):
    make_staff(app, "dave", "admin")
    r = client.post("/login", data={"username": "dave", "password": PASSWORD})
    assert r.status_code == 400
    assert client.get("/workflow-templates/").status_code == 302


def test_logout_needs_post_and_csrf(admin):
    assert admin.get("/logout").status_code == 405
    assert admin.post("/logout", csrf=False).status_code == 400
    r = admin.post("/logout")
    assert r.status_code == 303
    assert admin.get("/workflow-templates/").status_code == 302


def test_passwords_are_scrypt_hashed_and_service_rules(app):
    with app.app_context():
        user = create_staff_user(_db.session, "erin", "long enough pw", "operator")
        assert user.password_hash.startswith("scrypt:")
        with pytest.raises(Conflict):
            create_staff_user(_db.session, "erin", "long enough pw", "operator")
        with pytest.raises(ValidationFailed):
            create_staff_user(_db.session, "x y", "short", "boss")
        assert authenticate(_db.session, "erin", "long enough pw").username == "erin"
        assert authenticate(_db.session, "erin", "nope") is None
        user.is_active = False
        assert authenticate(_db.session, "erin", "long enough pw") is None


def test_security_headers_on_every_response(admin, client):
    for r in (
        client.get("/login"),
        admin.get("/workflow-templates/"),
        client.get("/static/css/wfapp.css"),
        client.get("/api/workflow-templates"),
    ):
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        r.close()


def test_session_cookie_flags(app, client):
    make_staff(app, "frank", "admin")
    r = login(client, "frank", PASSWORD)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    client2 = app.test_client()
    page = client2.get("/login", base_url="https://localhost")
    r = client2.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
        data={"username": "frank", "password": PASSWORD, "csrf_token": csrf_from(text(page))},
    )
    assert r.status_code == 303 and "Secure" in r.headers["Set-Cookie"]


def test_no_inline_script_or_style_in_pages(admin):
    body = text(admin.get("/workflow-templates/"))
    assert "<script>" not in body and "style=" not in body and "hx-on" not in body
    assert "/static/vendor/htmx-2.0." in body and '"allowEval":false' in body


def test_friendly_error_pages(admin, client):
    r = admin.get("/no-such-page")
    assert r.status_code == 404 and "Page not found" in text(r) and "<html" in text(r)
    r = admin.get("/no-such-page", htmx=True)
    assert r.status_code == 404 and is_fragment(r)
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and "<html" not in text(api)


def test_forbidden_page_for_wrong_role(viewer):
    r = viewer.get("/workflow-templates/-/new")
    assert r.status_code == 403 and "Not allowed" in text(r)


def test_home_redirects_to_a_dashboard_page(admin):
    r = admin.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith(("/workflow-templates", "/overview"))
