"""Saved views of the workflows monitor: a staff user's named query strings."""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.extensions import db
from wfapp.models.types import UTCDateTime, utcnow


class SavedView(db.Model):  # type: ignore[name-defined]  # Flask-SQLAlchemy builds db.Model at run time
    __tablename__ = "saved_views"
    __table_args__ = (sa.UniqueConstraint("staff_user_id", "name", name="uq_saved_views_name"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    staff_user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    # The monitor's query string (without "?"): the view is the URL, so it can be shared.
    query: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    is_default: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
