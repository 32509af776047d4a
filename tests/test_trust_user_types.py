"""User types are decided by staff: the integration registers end users with a user type, but
moving an existing end user to another user type needs an admin, and is audited."""

import sqlalchemy as sa

from wfapp.models import AuditEntry, EndUser
from wfapp.services.directory import END_USER_TYPE_CHANGED


def _moves(db):
    return db.scalars(sa.select(AuditEntry).where(AuditEntry.action == END_USER_TYPE_CHANGED))


def test_integration_cannot_move_an_end_user(api, db, make_user_type):
    basic, premium = make_user_type()["id"], make_user_type()["id"]
    r = api.post("/api/users", {"id": "u1", "user_type_id": basic, "display_name": "U"}, role="integration")
    assert r.status_code == 201
    # registering again with the same type: the same answer each time, nothing changes
    for _ in range(2):
        again = api.post("/api/users", {"id": "u1", "user_type_id": basic}, role="integration")
        assert again.status_code == 409 and again.json["existing_id"] == "u1"
    # another type, by POST or PATCH: refused for the integration
    r = api.post("/api/users", {"id": "u1", "user_type_id": premium}, role="integration")
    assert r.status_code == 403 and "admin" in r.json["detail"]
    r = api.patch("/api/users/u1", {"user_type_id": premium}, role="integration")
    assert r.status_code == 403 and r.headers["Content-Type"] == "application/problem+json"
    assert api.put("/api/users/u1", {"user_type_id": premium}, role="integration").status_code in (404, 405)
    assert db.get(EndUser, "u1").user_type_id == basic
    # the integration may still rename, and send the type it already has
    r = api.patch("/api/users/u1", {"user_type_id": basic, "display_name": "Renamed"}, role="integration")
    assert r.status_code == 200 and r.json["display_name"] == "Renamed"
    assert _moves(db) == []


def test_admin_moves_an_end_user_and_the_move_is_audited(api, db, make_user_type):
    basic, premium = make_user_type()["id"], make_user_type()["id"]
    api.post("/api/users", {"id": "u2", "user_type_id": basic}, role="integration")
    r = api.patch("/api/users/u2", {"user_type_id": premium})
    assert r.status_code == 200 and r.json["user_type_id"] == premium
    assert db.get(EndUser, "u2").user_type_id == premium
    [entry] = _moves(db)
    assert entry.actor == "token:test-admin" and entry.target_id == "u2"
    assert entry.changes == {"user_type_id": [basic, premium]}
    # an unknown type is still a 422 and moves nothing
    assert api.patch("/api/users/u2", {"user_type_id": "missing"}).status_code == 422
    assert db.get(EndUser, "u2").user_type_id == premium and len(_moves(db)) == 1
