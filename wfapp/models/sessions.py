"""Server-side records of staff sign-ins, so that logout and idle expiry end a session for good
(a signed cookie alone stays valid until it expires)."""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import Model
from wfapp.models.types import UTCDateTime, utcnow


class StaffSession(Model):
    __tablename__ = "staff_sessions"

    # a random value kept in the signed session cookie
    id: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    staff_user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    remote_addr: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
