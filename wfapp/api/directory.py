"""/api/user-types, /api/users (end users), /api/permissions"""

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.auth import ADMIN, READ, USER_WRITE
from wfapp.api.operations import operation
from wfapp.api.serializers import end_user_json, permission_json, user_type_json
from wfapp.errors import NotFound
from wfapp.extensions import db
from wfapp.models import TokenRole
from wfapp.schemas.api import END_USER_CREATE, END_USER_UPDATE, PERMISSION_CREATE, USER_TYPE_CREATE, USER_TYPE_UPDATE
from wfapp.services import directory as svc
from wfapp.services.workflow_templates import find_workflow_template


@operation(bp, "/user-types", "GET", summary="List user types", roles=READ, response="UserTypeList", tag="user types")
def list_user_types():
    return jsonify({"items": [user_type_json(u) for u in svc.list_user_types(db.session)]})


@operation(
    bp,
    "/user-types",
    "POST",
    summary="Create a user type",
    roles=ADMIN,
    body=USER_TYPE_CREATE,
    body_name="UserTypeCreate",
    response="UserType",
    status=201,
    errors=(409,),
    tag="user types",
)
def create_user_type(body):
    user_type = svc.create_user_type(db.session, body["id"], body.get("name", ""), body.get("description", ""))
    db.session.commit()
    return jsonify(user_type_json(user_type)), 201


@operation(
    bp,
    "/user-types/<user_type_id>",
    "GET",
    summary="A user type",
    roles=READ,
    response="UserType",
    errors=(404,),
    tag="user types",
)
def get_user_type(user_type_id):
    return jsonify(user_type_json(svc.get_user_type(db.session, user_type_id)))


@operation(
    bp,
    "/user-types/<user_type_id>",
    "PATCH",
    summary="Rename a user type",
    roles=ADMIN,
    body=USER_TYPE_UPDATE,
    body_name="UserTypeUpdate",
    response="UserType",
    errors=(404,),
    tag="user types",
)
def update_user_type(user_type_id, body):
    user_type = svc.get_user_type(db.session, user_type_id)
    svc.update_user_type(db.session, user_type, body.get("name"), body.get("description"))
    db.session.commit()
    return jsonify(user_type_json(user_type))


@operation(
    bp,
    "/user-types/<user_type_id>",
    "DELETE",
    summary="Delete an unused user type",
    roles=ADMIN,
    status=204,
    errors=(404, 409),
    tag="user types",
)
def delete_user_type(user_type_id):
    svc.delete_user_type(db.session, svc.get_user_type(db.session, user_type_id))
    db.session.commit()
    return "", 204


@operation(
    bp,
    "/users",
    "GET",
    summary="List end users",
    roles=READ,
    response="EndUserList",
    tag="end users",
    query=[
        {"name": "user_type_id", "schema": {"type": "string"}},
        {"name": "after", "schema": {"type": "string"}, "description": "the last id of the previous page"},
        {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    ],
)
def list_end_users():
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
    users = svc.list_end_users(db.session, request.args.get("user_type_id"), limit, request.args.get("after"))
    return jsonify(
        {"items": [end_user_json(u) for u in users], "next_after": users[-1].id if len(users) == limit else None}
    )


@operation(
    bp,
    "/users",
    "POST",
    summary="Register an end user",
    roles=USER_WRITE,
    body=END_USER_CREATE,
    body_name="EndUserCreate",
    response="EndUser",
    status=201,
    errors=(403, 409),
    tag="end users",
)
def create_end_user(body):
    user = svc.create_end_user(
        db.session, body["id"], body["user_type_id"], body.get("display_name", ""), staff_actor=_staff_actor()
    )
    db.session.commit()
    return jsonify(end_user_json(user)), 201


def _staff_actor() -> str | None:
    """The admin making the call, or None for the integration (which may not move end users)."""
    return g.actor if g.get("api_role") == TokenRole.ADMIN else None


@operation(
    bp,
    "/users/<path:user_id>",
    "GET",
    summary="An end user",
    roles=READ,
    response="EndUser",
    errors=(404,),
    tag="end users",
)
def get_end_user(user_id):
    return jsonify(end_user_json(svc.get_end_user(db.session, user_id)))


@operation(
    bp,
    "/users/<path:user_id>",
    "PATCH",
    summary="Change an end user's name, or (admin only) its user type",
    roles=USER_WRITE,
    body=END_USER_UPDATE,
    body_name="EndUserUpdate",
    response="EndUser",
    errors=(403, 404),
    tag="end users",
)
def update_end_user(user_id, body):
    user = svc.get_end_user(db.session, user_id)
    svc.update_end_user(db.session, user, body, staff_actor=_staff_actor(), remote_addr=request.remote_addr or "")
    db.session.commit()
    return jsonify(end_user_json(user))


@operation(
    bp,
    "/permissions",
    "GET",
    summary="List permissions",
    roles=READ,
    response="PermissionList",
    tag="permissions",
    query=[
        {"name": "user_type_id", "schema": {"type": "string"}},
        {"name": "workflow_template_id", "schema": {"type": "string"}},
    ],
)
def list_permissions():
    template_id = None
    if request.args.get("workflow_template_id"):
        template = find_workflow_template(db.session, request.args["workflow_template_id"])
        if template is None:
            return jsonify({"items": []})
        template_id = template.id
    items = svc.list_permissions(db.session, request.args.get("user_type_id"), template_id)
    return jsonify({"items": [permission_json(p) for p in items]})


@operation(
    bp,
    "/permissions",
    "POST",
    summary="Grant a workflow template to a user type",
    roles=ADMIN,
    body=PERMISSION_CREATE,
    body_name="PermissionCreate",
    response="Permission",
    status=201,
    errors=(409,),
    tag="permissions",
)
def grant_permission(body):
    permission = svc.grant_permission(db.session, body["user_type_id"], body["workflow_template_id"])
    db.session.commit()
    return jsonify(permission_json(permission)), 201


@operation(
    bp,
    "/permissions/<permission_id>",
    "DELETE",
    summary="Revoke a permission",
    roles=ADMIN,
    status=204,
    errors=(404,),
    tag="permissions",
)
def revoke_permission(permission_id):
    try:
        pid = int(permission_id)
    except ValueError:
        raise NotFound(f"no permission {permission_id!r}") from None
    svc.revoke_permission(db.session, svc.get_permission(db.session, pid))
    db.session.commit()
    return "", 204
