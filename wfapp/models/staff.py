"""Staff users (dashboard logins), API tokens and the staff audit log."""

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import JSONDoc, UTCDateTime, str_enum, utcnow


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


# The staff roles, and the chat backend's (integration); each value is the name in lower case.
TokenRole = enum.StrEnum("TokenRole", "ADMIN OPERATOR VIEWER INTEGRATION")


class StaffUser(Model):
    """A staff member. Flask-Login reads is_active, is_authenticated, is_anonymous and get_id."""

    __tablename__ = "staff_users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(300))
    role: so.Mapped[StaffRole] = so.mapped_column(str_enum(StaffRole, "staff_role"))
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_authenticated(self) -> bool:
        return self.is_active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    role: so.Mapped[TokenRole] = so.mapped_column(str_enum(TokenRole, "token_role"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class AuditEntry(Model):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_created", "created_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    actor: so.Mapped[str] = so.mapped_column(sa.String(200))
    action: so.Mapped[str] = so.mapped_column(sa.String(60))
    target_type: so.Mapped[str] = so.mapped_column(sa.String(60), default="")
    target_id: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    changes: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    remote_addr: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
