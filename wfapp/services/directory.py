"""User types, end users and permissions (which user types may start which workflow templates).

User types are decided by staff: the integration registers an end user with a user type, but only
an admin moves an existing end user to another user type (audited as END_USER_TYPE_CHANGED)."""

from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from wfapp.models import EndUser, Permission, UserType, WorkflowTemplate
from wfapp.services.staff import record_staff_action
from wfapp.services.workflow_templates import find_workflow_template

T = TypeVar("T")


def _found(row: T | None, message: str) -> T:
    """The row looked up, or NotFound with the message."""
    if row is None:
        raise NotFound(message)
    return row


def get_user_type(session: so.Session, user_type_id: str) -> UserType:
    return _found(session.get(UserType, user_type_id), f"no user type {user_type_id!r}")


def create_user_type(session: so.Session, id: str, name: str = "", description: str = "") -> UserType:
    existing = session.get(UserType, id)
    if existing is not None:
        raise Conflict(f"user type {id!r} exists", existing_id=id)
    user_type = UserType(id=id, name=name or id.replace("_", " ").capitalize(), description=description or "")
    session.add(user_type)
    session.flush()
    return user_type


def update_user_type(
    session: so.Session, user_type: UserType, name: str | None = None, description: str | None = None
) -> None:
    if name is not None:
        user_type.name = name
    if description is not None:
        user_type.description = description


def delete_user_type(session: so.Session, user_type: UserType) -> None:
    users = session.scalar(sa.select(sa.func.count()).select_from(EndUser).where(EndUser.user_type_id == user_type.id))
    grants = session.scalar(
        sa.select(sa.func.count()).select_from(Permission).where(Permission.user_type_id == user_type.id)
    )
    if users or grants:
        raise Conflict(
            f"user type {user_type.id!r} is used by {users} end user(s) and {grants} permission(s)",
            end_users=users,
            permissions=grants,
        )
    session.delete(user_type)
    session.flush()


def list_user_types(session: so.Session) -> list[UserType]:
    return list(session.scalars(sa.select(UserType).order_by(UserType.id)))


def get_end_user(session: so.Session, user_id: str) -> EndUser:
    return _found(session.get(EndUser, user_id), f"no end user {user_id!r}")


def _user_type_in_body(session: so.Session, user_type_id: str) -> UserType:
    user_type = session.get(UserType, user_type_id)
    if user_type is None:
        raise ValidationFailed(
            f"no user type {user_type_id!r}", [{"path": "/user_type_id", "message": f"no user type {user_type_id!r}"}]
        )
    return user_type


END_USER_TYPE_CHANGED = "end_user_type_changed"


def _refusal(user: EndUser, user_type_id: str) -> PermissionDenied:
    return PermissionDenied(
        f"end user {user.id!r} is of user type {user.user_type_id!r}: only an admin may move it to {user_type_id!r}",
        current_user_type_id=user.user_type_id,
    )


def create_end_user(
    session: so.Session, id: str, user_type_id: str, display_name: str = "", *, staff_actor: str | None = None
) -> EndUser:
    """Register an end user. Registering an existing one again answers 409 with `existing_id`
    (and changes nothing); with another user type, a caller that is not staff (`staff_actor`
    None: the integration) is refused with 403, since moving an end user is an admin's change."""
    existing = session.get(EndUser, id)
    if existing is not None:
        if existing.user_type_id != user_type_id and not staff_actor:
            raise _refusal(existing, user_type_id)
        raise Conflict(f"end user {id!r} exists", existing_id=id, user_type_id=existing.user_type_id)
    _user_type_in_body(session, user_type_id)
    user = EndUser(id=id, user_type_id=user_type_id, display_name=display_name or "")
    session.add(user)
    session.flush()
    return user


def update_end_user(
    session: so.Session, user: EndUser, data: dict[str, Any], *, staff_actor: str | None = None, remote_addr: str = ""
) -> None:
    """Change an end user's display name, or (staff only: `staff_actor` names the admin) its user
    type; a move is recorded in the staff audit log with both user types."""
    if "user_type_id" in data and data["user_type_id"] != user.user_type_id:
        if not staff_actor:
            raise _refusal(user, data["user_type_id"])
        _user_type_in_body(session, data["user_type_id"])
        record_staff_action(
            session,
            staff_actor,
            END_USER_TYPE_CHANGED,
            "end_user",
            user.id,
            {"user_type_id": [user.user_type_id, data["user_type_id"]]},
            remote_addr,
        )
        user.user_type_id = data["user_type_id"]
    if "display_name" in data:
        user.display_name = data["display_name"]


def list_end_users(
    session: so.Session, user_type_id: str | None = None, limit: int = 100, after: str | None = None
) -> list[EndUser]:
    q = sa.select(EndUser).order_by(EndUser.id).limit(limit)
    if user_type_id:
        q = q.where(EndUser.user_type_id == user_type_id)
    if after:
        q = q.where(EndUser.id > after)
    return list(session.scalars(q))


def grant_permission(session: so.Session, user_type_id: str, workflow_template_ref: str) -> Permission:
    _user_type_in_body(session, user_type_id)
    template = find_workflow_template(session, workflow_template_ref)
    if template is None:
        raise ValidationFailed(
            f"no workflow template {workflow_template_ref!r}",
            [{"path": "/workflow_template_id", "message": f"no workflow template {workflow_template_ref!r}"}],
        )
    existing = session.scalar(
        sa.select(Permission).where(
            Permission.user_type_id == user_type_id, Permission.workflow_template_id == template.id
        )
    )
    if existing is not None:
        raise Conflict(
            f"user type {user_type_id!r} already has workflow template {template.name!r}", existing_id=existing.id
        )
    permission = Permission(user_type_id=user_type_id, workflow_template_id=template.id)
    session.add(permission)
    session.flush()
    return permission


def get_permission(session: so.Session, permission_id: int) -> Permission:
    return _found(session.get(Permission, permission_id), f"no permission {permission_id}")


def revoke_permission(session: so.Session, permission: Permission) -> None:
    session.delete(permission)
    session.flush()


def list_permissions(
    session: so.Session, user_type_id: str | None = None, workflow_template_id=None
) -> list[Permission]:
    q = sa.select(Permission).order_by(Permission.id)
    if user_type_id:
        q = q.where(Permission.user_type_id == user_type_id)
    if workflow_template_id:
        q = q.where(Permission.workflow_template_id == workflow_template_id)
    return list(session.scalars(q))


def is_granted(session: so.Session, user_type_id: str, template: WorkflowTemplate) -> bool:
    return (
        session.scalar(
            sa.select(Permission.id).where(
                Permission.user_type_id == user_type_id, Permission.workflow_template_id == template.id
            )
        )
        is not None
    )
