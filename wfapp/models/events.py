"""Public events (what subscribers and the pull feed see), webhook subscriptions, and timers."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import JSONDoc, UTCDateTime, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class EventSubscription(Model):
    """An admin's webhook: the events of `event_types` (of the workflow templates named in
    `templates`, or of all when empty) are POSTed to `url`, signed with `secret`."""

    __tablename__ = "event_subscriptions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(2000))
    event_types: so.Mapped[list[str]] = so.mapped_column(JSONDoc, default=list)
    templates: so.Mapped[list[str]] = so.mapped_column(JSONDoc, default=list)
    description: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    # kept so that it can sign; shown once, when the subscription is created
    secret: so.Mapped[str] = so.mapped_column(sa.String(100))
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_by: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class PublicEvent(Model):
    """One public event, written in the transaction of the change that caused it. `position` is
    the feed's cursor: given in commit order by the feed (a row id order alone could be seen out
    of order on PostgreSQL, where concurrent transactions commit in any order)."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        sa.Index("ix_event_outbox_position", "position", unique=True),
        sa.Index(
            "ix_event_outbox_unpositioned",
            "id",
            sqlite_where=sa.text("position IS NULL"),
            postgresql_where=sa.text("position IS NULL"),
        ),
        sa.Index("ix_event_outbox_workflow", "workflow_id", "seq"),
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    event_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.Uuid, unique=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(40))
    workflow_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    seq: so.Mapped[int]
    template: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    actor: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    data: so.Mapped[dict[str, Any]] = so.mapped_column(JSONDoc, default=dict)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    position: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)


class Timer(Model):
    """A timer of a workflow: `remind` and `expire` (idle time since the last interaction) and
    `dependency_timeout` (`name` is the dependency). `due_at` is never later than the moment it
    must fire; the dispatcher that claims it checks the workflow and fires it or moves it on."""

    __tablename__ = "timers"
    __table_args__ = (sa.Index("ix_timers_due", "due_at"), sa.Index("ix_timers_workflow", "workflow_id"))

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    workflow_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))
    name: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    due_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    fired_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
