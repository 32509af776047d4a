"""User types, end users and the permissions that grant workflow templates to user types."""

import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import UTCDateTime, utcnow


class UserType(Model):
    __tablename__ = "user_types"

    id: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class EndUser(Model):
    __tablename__ = "end_users"

    id: so.Mapped[str] = so.mapped_column(sa.String(200), primary_key=True)
    user_type_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("user_types.id"), index=True)
    display_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user_type: so.Mapped[UserType] = so.relationship(lazy="raise")


class Permission(Model):
    __tablename__ = "permissions"
    __table_args__ = (sa.UniqueConstraint("user_type_id", "workflow_template_id", name="uq_permissions_pair"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_type_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("user_types.id"), index=True)
    workflow_template_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflow_templates.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
