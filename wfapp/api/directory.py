"""/api/user-types, /api/users (end users), /api/permissions"""

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.auth import USER_WRITE
from wfapp.api.presets import OperationPresets, items_response, limit_arg
from wfapp.api.serializers import end_user_json, permission_json, user_type_json
from wfapp.errors import NotFound
from wfapp.extensions import db
from wfapp.models import TokenRole
from wfapp.schemas.api import END_USER_CREATE, END_USER_UPDATE, PERMISSION_CREATE, USER_TYPE_CREATE, USER_TYPE_UPDATE
from wfapp.services import directory as svc
from wfapp.services.workflow_templates import find_workflow_template

user_types = OperationPresets(bp, tag="user types")
end_users = OperationPresets(bp, tag="end users", writes=USER_WRITE)
permissions = OperationPresets(bp, tag="permissions")


@user_types.read("/user-types", "List user types", "UserTypeList")
def list_user_types():
    return items_response(svc.list_user_types(db.session), user_type_json)


@user_types.create("/user-types", "Create a user type", USER_TYPE_CREATE, "UserTypeCreate", "UserType", errors=(409,))
def create_user_type(body):
    user_type = svc.create_user_type(db.session, body["id"], body.get("name", ""), body.get("description", ""))
    db.session.commit()
    return jsonify(user_type_json(user_type)), 201


@user_types.read("/user-types/<user_type_id>", "A user type", "UserType")
def get_user_type(user_type_id):
    return jsonify(user_type_json(svc.get_user_type(db.session, user_type_id)))


@user_types.change("/user-types/<user_type_id>", "Rename a user type", USER_TYPE_UPDATE, "UserTypeUpdate", "UserType")
def update_user_type(user_type_id, body):
    user_type = svc.get_user_type(db.session, user_type_id)
    svc.update_user_type(db.session, user_type, body.get("name"), body.get("description"))
    db.session.commit()
    return jsonify(user_type_json(user_type))


@user_types.delete("/user-types/<user_type_id>", "Delete an unused user type", errors=(409,))
def delete_user_type(user_type_id):
    svc.delete_user_type(db.session, svc.get_user_type(db.session, user_type_id))
    db.session.commit()
    return "", 204


USER_QUERY = [
    {"name": "user_type_id", "schema": {"type": "string"}},
    {"name": "after", "schema": {"type": "string"}, "description": "the last id of the previous page"},
    {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
]


@end_users.read("/users", "List end users", "EndUserList", query=USER_QUERY)
def list_end_users():
    limit = limit_arg(100, 500)
    users = svc.list_end_users(db.session, request.args.get("user_type_id"), limit, request.args.get("after"))
    return items_response(users, end_user_json, next_after=users[-1].id if len(users) == limit else None)


@end_users.create("/users", "Register an end user", END_USER_CREATE, "EndUserCreate", "EndUser", errors=(403, 409))
def create_end_user(body):
    user = svc.create_end_user(
        db.session, body["id"], body["user_type_id"], body.get("display_name", ""), staff_actor=_staff_actor()
    )
    db.session.commit()
    return jsonify(end_user_json(user)), 201


def _staff_actor() -> str | None:
    """The admin making the call, or None for the integration (which may not move end users)."""
    return g.actor if g.get("api_role") == TokenRole.ADMIN else None


@end_users.read("/users/<path:user_id>", "An end user", "EndUser")
def get_end_user(user_id):
    return jsonify(end_user_json(svc.get_end_user(db.session, user_id)))


@end_users.change(
    "/users/<path:user_id>",
    "Change an end user's name, or (admin only) its user type",
    END_USER_UPDATE,
    "EndUserUpdate",
    "EndUser",
    errors=(403,),
)
def update_end_user(user_id, body):
    user = svc.get_end_user(db.session, user_id)
    svc.update_end_user(db.session, user, body, staff_actor=_staff_actor(), remote_addr=request.remote_addr or "")
    db.session.commit()
    return jsonify(end_user_json(user))


PERMISSION_QUERY = [
    {"name": "user_type_id", "schema": {"type": "string"}},
    {"name": "workflow_template_id", "schema": {"type": "string"}},
]


@permissions.read("/permissions", "List permissions", "PermissionList", query=PERMISSION_QUERY)
def list_permissions():
    template_id = None
    if request.args.get("workflow_template_id"):
        template = find_workflow_template(db.session, request.args["workflow_template_id"])
        if template is None:
            return jsonify({"items": []})
        template_id = template.id
    items = svc.list_permissions(db.session, request.args.get("user_type_id"), template_id)
    return items_response(items, permission_json)


@permissions.create(
    "/permissions",
    "Grant a workflow template to a user type",
    PERMISSION_CREATE,
    "PermissionCreate",
    "Permission",
    errors=(409,),
)
def grant_permission(body):
    permission = svc.grant_permission(db.session, body["user_type_id"], body["workflow_template_id"])
    db.session.commit()
    return jsonify(permission_json(permission)), 201


@permissions.delete("/permissions/<permission_id>", "Revoke a permission")
def revoke_permission(permission_id):
    try:
        pid = int(permission_id)
    except ValueError:
        raise NotFound(f"no permission {permission_id!r}") from None
    svc.revoke_permission(db.session, svc.get_permission(db.session, pid))
    db.session.commit()
    return "", 204
