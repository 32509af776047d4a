"""What the operator's console adds to the workflows monitor (wfapp.dashboard.workflows): the
incident filter and column, state_data columns, the bounded total, saved views, clean URLs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import request, url_for
from flask_login import current_user

from wfapp.extensions import db
from wfapp.services import attention, console, saved_views
from wfapp.services.workflow_templates import find_workflow_template


def extra_where(args: dict[str, Any]) -> list[Any]:
    return [attention.has_incident()] if args.get("incident") == "1" else []


def empty_extras() -> dict[str, Any]:
    return {"total": None, "incidents": {}, "columns": [], "column_values": {}, "field_choices": []}


def monitor_extras(session, args, rows, filters, extra, role: str) -> dict[str, Any]:
    """The total (bounded), the incident labels and state_data columns of the rows shown: a
    fixed number of queries whatever the number of rows."""
    out = empty_extras()
    out["total"] = console.bounded_total(session, _query(session, filters, extra))
    out["incidents"] = attention.dead_jobs_by_workflow(session, [r.workflow.id for r in rows])
    columns = console.parse_columns(args.get("cols"))
    if args.get("field") and args["field"] not in columns:
        columns.append(args["field"])  # the searched field's value is shown
    sensitive: frozenset[str] = frozenset()
    if args.get("template"):
        template = find_workflow_template(session, args["template"])
        if template is not None:
            out["field_choices"], sensitive = console.template_fields(session, template)
    if args.get("field") and not args.get("template"):
        from wfapp.services.privacy import is_sensitive_anywhere

        sensitive = frozenset({args["field"]}) if is_sensitive_anywhere(session, args["field"]) else frozenset()
    out["columns"] = columns
    out["selected_columns"] = console.parse_columns(args.get("cols"))
    out["column_values"] = {
        r.workflow.id: console.column_values(r.workflow.state_data, columns, sensitive, role) for r in rows
    }
    return out


def _query(session, filters, extra):
    from wfapp.services.monitor import monitor_query

    return monitor_query(session, filters, extra)


def views_of_current_user() -> list:
    if not getattr(current_user, "is_authenticated", False):
        return []
    return saved_views.list_views(db.session, current_user.id)


def redirect_target() -> str | None:
    """Where a full-page GET of the monitor should go instead: the same URL without empty
    parameters, or (no arguments at all) the user's default view."""
    if request.headers.get("HX-Request") == "true":
        return None
    pairs = list(request.args.items(multi=True))
    if not pairs:
        view = saved_views.default_view(db.session, current_user.id)
        return url_for("workflows.index") + "?" + view.query if view and view.query else None
    kept = [(k, v) for k, v in pairs if v != "" and k != "col"]
    cols = [v for k, v in pairs if k == "col" and v]
    if cols:  # the column check boxes of a form sent without its script
        kept = [(k, v) for k, v in kept if k != "cols"] + [("cols", ",".join(cols))]
    if kept != pairs:
        return url_for("workflows.index") + ("?" + urlencode(kept) if kept else "?view=none")
    return None
