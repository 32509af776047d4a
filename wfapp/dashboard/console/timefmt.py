"""Relative times with the exact time on hover: ``{{ ts|ago }}``."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

from wfapp.models.types import utcnow


def relative(ts: datetime, now: datetime | None = None) -> str:
    now = now or utcnow()
    seconds = int((now - ts).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        text = "just now" if not future else "in a few seconds"
        return text
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = round(seconds / size) if size == 60 else seconds // size
            text = f"{n} {unit}"
            break
    return f"in {text}" if future else f"{text} ago"


def ago(ts: datetime | None) -> Markup:
    """<time> with the relative time as text and the exact time (UTC) as its title."""
    if ts is None:
        return Markup('<span class="muted">—</span>')
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    exact = ts.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        escape(ts.isoformat()), escape(exact), escape(relative(ts))
    )
