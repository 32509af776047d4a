"""The overview (counts per status and workflow template, incidents, started/completed per day,
recent activity; live) and the template analytics pages. Charts are inline SVG drawn on the
server: no script, nothing inline that the CSP would refuse."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, request, url_for

from wfapp.auth import roles_required
from wfapp.dashboard.overview.charts import day_chart, hbar_chart
from wfapp.errors import NotFound
from wfapp.extensions import db
from wfapp.models import WorkflowStatus, WorkflowTemplate
from wfapp.services import monitor
from wfapp.services.analytics import template_analytics
from wfapp.services.workflow_templates import find_workflow_template
from wfapp.web import polled_fragment, render

bp = Blueprint("overview", __name__)
STATUSES = [s.value for s in WorkflowStatus]
POLL_S = 5
CHART_DAYS = 14


def _overview_context(days: int = CHART_DAYS) -> dict:
    counts = monitor.status_counts(db.session)
    per_day = monitor.per_day(db.session, days)
    return dict(
        counts=counts,
        total=sum(counts.values()),
        statuses=STATUSES,
        templates=monitor.template_status_counts(db.session),
        per_day=per_day,
        chart=day_chart(per_day),
        incidents=monitor.incidents(db.session),
        dead=monitor.dead_job_count(db.session),
        activity=monitor.recent_activity(db.session),
        token=monitor.overview_token(db.session),
        poll_s=POLL_S,
        active_nav="overview",
        days=days,
    )


@bp.get("/overview/")
@roles_required()
def index():
    return render("overview/index.html", "overview/_live.html", **_overview_context())


@bp.get("/overview/live")
@roles_required()
def live():
    """The overview's poll: 204 when no workflow changed and no job appeared or died."""
    return polled_fragment(lambda: monitor.overview_token(db.session), "overview/_live.html", _overview_context)


@bp.get("/analytics/")
@roles_required()
def analytics_index():
    templates = db.session.scalars(sa.select(WorkflowTemplate).order_by(WorkflowTemplate.name)).all()
    return render(
        "overview/analytics_index.html", "overview/_analytics_index.html", templates=templates, active_nav="overview"
    )


@bp.get("/analytics/<name>")
@roles_required()
def analytics(name):
    template = find_workflow_template(db.session, name)
    if template is None:
        abort(404)
    try:
        a = template_analytics(db.session, template, request.args.get("version", type=int))
    except (LookupError, NotFound):
        abort(404)
    fill = hbar_chart([(f.title, f.filled, "bar") for f in a.fields], a.total)
    stops = hbar_chart(
        [(f.title, f.stopped_here, "bar-alt") for f in a.fields]
        + ([("(no data at all)", a.abandoned_without_data, "bar-muted")] if a.abandoned else []),
        max(a.abandoned, 1),
    )
    funnel = hbar_chart([(label, n, "bar") for label, n in a.funnel], a.total)
    statuses = hbar_chart([(s, a.statuses.get(s, 0), "bar-muted") for s in STATUSES], a.total)
    return render(
        "overview/analytics.html",
        "overview/_analytics.html",
        a=a,
        fill_chart=fill,
        stop_chart=stops,
        funnel_chart=funnel,
        status_chart=statuses,
        active_nav="overview",
        monitor_url=url_for("workflows.index", template=template.name, version=a.version.number),
    )
