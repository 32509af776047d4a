"""Reading the staff audit log: newest first, filtered by actor, action, target and time, in
keyset pages (by id, which grows with time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import AuditEntry
from wfapp.services.filters import equal_to, within


@dataclass
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    remote_addr: str | None = None
    after: datetime | None = None
    before: datetime | None = None


def list_audit_entries(
    session: so.Session, f: AuditFilters, limit: int = 50, before_id: int | None = None
) -> tuple[list[AuditEntry], int | None]:
    q = sa.select(AuditEntry)
    if f.actor:
        q = q.where(AuditEntry.actor.contains(f.actor, autoescape=True))
    q = equal_to(q, AuditEntry, f, "action", "target_type", "target_id", "remote_addr")
    q = within(q, AuditEntry.created_at, f.after, f.before)
    if before_id:
        q = q.where(AuditEntry.id < before_id)
    rows = list(session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    next_before = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_before


def audit_actions(session: so.Session) -> list[str]:
    """The actions present in the log (the filter's choices)."""
    return list(session.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
