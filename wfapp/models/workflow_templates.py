"""Workflow templates and their immutable versions."""

import uuid
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import JSONDoc, OrderedJSON, UTCDateTime, new_uuid, utcnow


class WorkflowTemplate(Model):
    __tablename__ = "workflow_templates"

    id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, primary_key=True, default=new_uuid)
    name: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    category: so.Mapped[str] = so.mapped_column(sa.String(100), default="", index=True)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    current_version_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("template_versions.id", use_alter=True, name="fk_workflow_templates_current_version")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    current_version: so.Mapped[Optional["TemplateVersion"]] = so.relationship(
        foreign_keys=[current_version_id], lazy="joined", post_update=True
    )


class TemplateVersion(Model):
    """An immutable snapshot of a workflow template's definition."""

    __tablename__ = "template_versions"
    __table_args__ = (sa.UniqueConstraint("template_id", "number", name="uq_template_versions_number"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    template_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflow_templates.id"), index=True)
    number: so.Mapped[int]
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    guidelines: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    state_schema: so.Mapped[dict[str, Any]] = so.mapped_column(OrderedJSON)
    workflow_dependencies: so.Mapped[list[Any]] = so.mapped_column(JSONDoc, default=list)
    end_action_type: so.Mapped[str] = so.mapped_column(sa.String(20), default="none")
    end_action_target: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    # idle timers: {"remind_after": seconds, "expire_after": seconds} (services.timers)
    timers: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    # The conversation: ask for optional fields too (False: only required ones are asked for),
    # and what repeated refusals of a field lead to ({"after": N, "action": "skip"|"handoff"}).
    ask_optional: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())
    escalation: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    change_note: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    created_by: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    template: so.Mapped[WorkflowTemplate] = so.relationship(foreign_keys=[template_id], lazy="raise")

    DEFINITION_FIELDS = (
        "description",
        "guidelines",
        "state_schema",
        "workflow_dependencies",
        "end_action_type",
        "end_action_target",
        "timers",
        "ask_optional",
        "escalation",
    )

    def definition(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.DEFINITION_FIELDS}
