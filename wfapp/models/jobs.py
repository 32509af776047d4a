"""The transactional outbox: outbound calls written with the change that causes them."""

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import JSONDoc, UTCDateTime, str_enum, utcnow


class JobKind(enum.StrEnum):
    END_ACTION = "end_action"
    DEPENDENCY = "dependency"
    WEBHOOK = "webhook"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class Job(Model):
    __tablename__ = "jobs"
    __table_args__ = (
        # The dispatcher's claim query: due pending jobs in order.
        sa.Index("ix_jobs_due", "status", "next_attempt_at"),
        sa.Index("ix_jobs_workflow", "workflow_id", "kind"),
    )

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kind: so.Mapped[JobKind] = so.mapped_column(str_enum(JobKind, "job_kind"))
    workflow_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    # Stable across attempts: sent as the Idempotency-Key header.
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    payload: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    status: so.Mapped[JobStatus] = so.mapped_column(str_enum(JobStatus, "job_status"), default=JobStatus.PENDING)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    max_attempts: so.Mapped[int] = so.mapped_column(default=8)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    locked_by: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    last_error: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # A dependency call's callback credential: SHA-256 (hex) of the one sent with the current
    # attempt (X-Wfapp-Callback), never the credential itself; used_at once it has been used.
    callback_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    callback_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
