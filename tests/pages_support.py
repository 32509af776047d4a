"""Helpers of the dashboard page tests: staff logins, CSRF tokens, HTMX headers."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from wfapp.extensions import db as _db
from wfapp.models import Workflow
from wfapp.services.staff import create_staff_user

HX = {"HX-Request": "true"}
PASSWORD = "correct horse battery"


def last_interaction(app, ids: list[uuid.UUID], ago: timedelta) -> None:
    """Make these workflows' last interaction `ago` in the past (idle ones: the queue holds them)."""
    with app.app_context():
        _db.session.execute(
            sa.update(Workflow).where(Workflow.id.in_(ids)).values(last_interaction_at=datetime.now(UTC) - ago)
        )
        _db.session.commit()


def idle_workflows(app, make_workflow, n: int) -> list[uuid.UUID]:
    """n workflows idle for two days."""
    ids = [uuid.UUID(make_workflow()["id"]) for _ in range(n)]
    last_interaction(app, ids, timedelta(days=2))
    return ids


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def make_staff(app, username: str, role: str) -> None:
    with app.app_context():
        create_staff_user(_db.session, username, PASSWORD, role, app.config["PASSWORD_HASH_METHOD"])
        _db.session.commit()


class Staff:
    """A signed-in browser session of one staff user (a test client with its own cookies)."""

    def __init__(self, app, role: str):
        self.app = app
        self.client = app.test_client()
        make_staff(app, f"{role}1", role)
        page = self.client.get("/login")
        r = self.client.post(
            "/login",
            data={"username": f"{role}1", "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))},
        )
        assert r.status_code == 303, r.get_data(as_text=True)
        self.token = csrf_from(self.client.get("/workflow-templates/").get_data(as_text=True))

    def get(self, path, htmx=False, **kw):
        return self.client.get(path, headers=HX if htmx else {}, **kw)

    def post(self, path, data=None, htmx=False, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, headers=HX if htmx else {}, **kw)


def text(response) -> str:
    return response.get_data(as_text=True)


def is_fragment(response) -> bool:
    body = text(response)
    return "<html" not in body and "<!doctype" not in body.lower()
