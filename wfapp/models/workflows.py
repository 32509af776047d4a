"""Workflows (instances of a workflow template) and their append-only history."""

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import JSONDoc, UTCDateTime, new_uuid, str_enum, utcnow

if TYPE_CHECKING:
    from wfapp.models.workflow_templates import TemplateVersion, WorkflowTemplate


class WorkflowStatus(enum.StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED})
OPEN_STATUSES = (WorkflowStatus.ACTIVE.value, WorkflowStatus.WAITING.value)
# The predicate of the partial unique index on (template_id, conversation_id); an INSERT ... ON
# CONFLICT names the index by repeating it.
OPEN_WORKFLOW_PREDICATE = "status IN ('active', 'waiting')"


# PostgreSQL: a pending dependency of the workflow waits for an operator (a failure with
# on_failure "wait" marks its entry needs_operator)
NEEDS_OPERATOR_PG = (
    "jsonb_path_exists(pending_dependencies, "
    """'$.* ? (@.state == "pending" && @.needs_operator == true)'::jsonpath)"""
)


class Workflow(Model):
    __tablename__ = "workflows"
    __table_args__ = (
        # At most one non-terminal workflow per (template, conversation): enforced by the database
        # so that two concurrent starts cannot both win.
        sa.Index(
            "uq_workflows_open_conversation",
            "template_id",
            "conversation_id",
            unique=True,
            sqlite_where=sa.text(OPEN_WORKFLOW_PREDICATE),
            postgresql_where=sa.text(OPEN_WORKFLOW_PREDICATE),
        ),
        # Keyset pagination of the monitor: newest first, optionally filtered.
        sa.Index("ix_workflows_started", "started_at", "id"),
        sa.Index("ix_workflows_status_started", "status", "started_at", "id"),
        sa.Index("ix_workflows_template_started", "template_id", "started_at", "id"),
        sa.Index("ix_workflows_user_started", "user_id", "started_at", "id"),
        sa.Index("ix_workflows_conversation", "conversation_id"),
        sa.Index("ix_workflows_last_interaction", "last_interaction_at", "id"),
        sa.Index("ix_workflows_updated", "updated_at", "id"),
        # The operator's queue: workflows handed to a human, and who claimed what.
        sa.Index("ix_workflows_handoff", "handoff_at"),
        sa.Index("ix_workflows_claimed", "claimed_by"),
        # idle open workflows (the queue and its count): open statuses only, by last interaction
        sa.Index("ix_workflows_status_interaction", "status", "last_interaction_at"),
        # waiting workflows with a dependency that waits for an operator (PostgreSQL; the queue
        # and its count)
        sa.Index("ix_workflows_needs_operator", "status", postgresql_where=sa.text(NEEDS_OPERATOR_PG)).ddl_if(
            dialect="postgresql"
        ),
        # suspended workflows (the queue and its count)
        sa.Index(
            "ix_workflows_suspended",
            "suspended_at",
            sqlite_where=sa.text("suspended_at IS NOT NULL"),
            postgresql_where=sa.text("suspended_at IS NOT NULL"),
        ),
    )

    id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, primary_key=True, default=new_uuid)
    template_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflow_templates.id"))
    template_version_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("template_versions.id"), index=True)
    conversation_id: so.Mapped[str] = so.mapped_column(sa.String(200))
    user_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("end_users.id"))
    status: so.Mapped[WorkflowStatus] = so.mapped_column(
        str_enum(WorkflowStatus, "workflow_status"), default=WorkflowStatus.ACTIVE
    )
    state_data: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    pending_dependencies: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    waiting_for: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    row_version: so.Mapped[int] = so.mapped_column(default=1)
    # seq of the last event written: the next event's seq without a query
    event_seq: so.Mapped[int] = so.mapped_column(default=0)
    status_reason: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_interaction_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # an operator's suspension: no writes, timers or dependency calls until resumed
    suspended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    suspend_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # A human was asked to take over the conversation (wfapp.services.handoff): why, since when,
    # and who asked ("llm", "validation" after repeated refusals, "operator"); cleared on hand-back.
    handoff_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    handoff_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    handoff_source: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    # Optional fields the end user declined to give: {field: {"reason", "source", "at"}}
    declined: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    # The last refused write of each field not stored since: {field: {"message", "count", "value", "at"}}
    # (no value for a sensitive field); bookkeeping for the LLM context, not part of the state.
    refusals: so.Mapped[dict[str, Any] | None] = so.mapped_column(JSONDoc)
    # The operator who took the workflow's items in the queue (services.attention).
    claimed_by: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    claimed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    template: so.Mapped["WorkflowTemplate"] = so.relationship(lazy="raise")
    version: so.Mapped["TemplateVersion"] = so.relationship(lazy="raise")

    @property
    def is_terminal(self) -> bool:
        return WorkflowStatus(self.status).is_terminal

    @property
    def etag(self) -> str:
        return f'"{self.id}.{self.row_version}"'


class WorkflowEvent(Model):
    """One entry of a workflow's history; `data` holds enough to rebuild the state at each step."""

    __tablename__ = "workflow_events"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "seq", name="uq_workflow_events_seq"),)

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    workflow_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    seq: so.Mapped[int]
    type: so.Mapped[str] = so.mapped_column(sa.String(40))
    actor: so.Mapped[str] = so.mapped_column(sa.String(200))
    data: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
