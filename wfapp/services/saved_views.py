"""Saved views of the workflows monitor, per staff user. A view is the monitor's query string,
so that it can be shared as a URL; one of a user's views may be the default, applied when the
monitor is opened without arguments."""

from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa

from wfapp.errors import Conflict, NotFound, ValidationFailed
from wfapp.models import SavedView

MAX_NAME = 100
MAX_QUERY = 4000
# Parameters that are not part of a view: where a page starts, and the switch that skips the default.
NOT_SAVED = {"cursor", "since", "view", "csrf_token"}


class SavedViewNotFound(NotFound):
    title = "Saved view not found"


def clean_query(query: str) -> str:
    """The query string without empty parameters and without paging state."""
    pairs = [
        (k, v) for k, v in parse_qsl((query or "").lstrip("?"), keep_blank_values=True) if v and k not in NOT_SAVED
    ]
    return urlencode(pairs)


def list_views(session, staff_user_id: int) -> list[SavedView]:
    return list(
        session.scalars(sa.select(SavedView).where(SavedView.staff_user_id == staff_user_id).order_by(SavedView.name))
    )


def default_view(session, staff_user_id: int) -> SavedView | None:
    return session.scalar(
        sa.select(SavedView).where(SavedView.staff_user_id == staff_user_id, SavedView.is_default.is_(True)).limit(1)
    )


def _clear_default(session, staff_user_id: int) -> None:
    session.execute(
        sa.update(SavedView)
        .where(SavedView.staff_user_id == staff_user_id, SavedView.is_default.is_(True))
        .values(is_default=False)
    )


def save_view(session, staff_user_id: int, name: str, query: str, make_default: bool = False) -> SavedView:
    """Save the query under a name (a view of that name is replaced)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed("name the view", [{"path": "/name", "message": f"1 to {MAX_NAME} characters"}])
    query = clean_query(query)
    if len(query) > MAX_QUERY:
        raise ValidationFailed(
            "the view is too long", [{"path": "/query", "message": f"at most {MAX_QUERY} characters"}]
        )
    if make_default:
        _clear_default(session, staff_user_id)
    view = session.scalar(sa.select(SavedView).where(SavedView.staff_user_id == staff_user_id, SavedView.name == name))
    if view is None:
        view = SavedView(staff_user_id=staff_user_id, name=name, query=query, is_default=make_default)
        session.add(view)
    else:
        view.query = query
        view.is_default = make_default or view.is_default
    session.flush()
    return view


def get_view(session, staff_user_id: int, view_id: int) -> SavedView:
    view = session.get(SavedView, view_id)
    if view is None or view.staff_user_id != staff_user_id:
        raise SavedViewNotFound(f"no saved view {view_id}")
    return view


def set_default(session, staff_user_id: int, view_id: int, is_default: bool = True) -> SavedView:
    view = get_view(session, staff_user_id, view_id)
    if is_default:
        _clear_default(session, staff_user_id)
    view.is_default = is_default
    session.flush()
    return view


def delete_view(session, staff_user_id: int, view_id: int) -> SavedView:
    view = get_view(session, staff_user_id, view_id)
    session.delete(view)
    session.flush()
    return view


__all__ = ["Conflict", "SavedViewNotFound", "clean_query", "default_view", "delete_view", "list_views", "save_view"]
