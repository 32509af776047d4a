"""The workflows monitor (filters in the URL, keyset pages, live polling, bulk actions) and the
workflow detail page (state_data form, timeline stepper, dependency and end-action panels)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from wfapp.auth import (
    ADMIN,
    OPERATOR,
    actor_name,
    has_role,
    read_with_session,
    register_read_with_session,
    roles_required,
)
from wfapp.dashboard.console import monitor_view as console_view
from wfapp.db_setup import begin_write
from wfapp.errors import NotFound, PermissionDenied, Problem, StateValidationError, ValidationFailed
from wfapp.extensions import db
from wfapp.models import Workflow, WorkflowStatus, WorkflowTemplate
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import lifecycle, monitor, outbox_actions, privacy, workflow_lookup, workflow_queries
from wfapp.services.analytics import record_validation_failure
from wfapp.services.operator_form import SaveOutcome, save_operator_form
from wfapp.services.outbox import OutboxSettings
from wfapp.services.staff import record_staff_action
from wfapp.services.workflow_page import (
    Reveal,
    Viewer,
    history_document,
    record_reveal,
    workflow_page,
    workflow_reveal,
    workflow_steps,
)
from wfapp.web import (
    HTMX_STOP_POLLING,
    UNCHANGED,
    add_trigger,
    commit_action,
    errors_by_field,
    field_titles,
    found_or_404,
    hx_redirect,
    polled_fragment,
    render,
    state_values_from_form,
    titled,
)

bp = Blueprint("workflows", __name__, url_prefix="/workflows")
ACTORS = (ADMIN, OPERATOR)
STATUSES = [s.value for s in WorkflowStatus]
FILTER_NAMES = (
    "status",
    "template",
    "version",
    "user_id",
    "conversation_id",
    "waiting_for",
    "started_after",
    "started_before",
    "last_interaction_after",
    "last_interaction_before",
    "field",
    "value",
    "match",
    # the operator's console: workflows with a dead job; state_data columns (with a template)
    "incident",
    "cols",
)
MONITOR_POLL_S = 3
DETAIL_POLL_S = 2
BULK_ACTIONS = ("cancel", "retry")
log = logging.getLogger(__name__)


def may_act() -> bool:
    return has_role(ADMIN, OPERATOR)


def staff_role() -> str:
    return str(getattr(current_user, "role", "") or "")


def _audit(action: str, workflow_id, changes: dict | None = None) -> None:
    record_staff_action(
        db.session, actor_name(), action, "workflow", str(workflow_id), changes or {}, request.remote_addr or ""
    )


# ------------------------------------------------------------------------------------ monitor


def monitor_args() -> dict[str, Any]:
    """The filters and sort of the request, normalised: statuses may come as repeated
    parameters (check boxes) or comma-separated (the API's form)."""
    args: dict[str, Any] = {}
    statuses = [s for v in request.args.getlist("status") for s in v.split(",") if s]
    if statuses:
        args["status"] = ",".join(dict.fromkeys(statuses))
    for name in FILTER_NAMES[1:]:
        value = (request.args.get(name) or "").strip()
        if value:
            args[name] = value
    if args.get("match") == "equals" or not args.get("field"):
        args.pop("match", None)
    if not args.get("field"):
        args.pop("value", None)
    if args.get("incident") != "1":
        args.pop("incident", None)
    if not args.get("template"):
        args.pop("cols", None)
    sort = request.args.get("sort", "newest")
    if sort in monitor.SORTS and sort != "newest":
        args["sort"] = sort
    return args


def _monitor_context(since: str | None = None) -> dict[str, Any]:
    args = monitor_args()
    errors: list[dict[str, Any]] = []
    limit = min(max(request.args.get("limit", current_app.config.get("PAGE_SIZE", 50), type=int) or 50, 1), 200)
    cursor = request.args.get("cursor") or None
    rows: list = []
    next_cursor = None
    console_ctx: dict[str, Any] = console_view.empty_extras()
    try:
        # A broken filter shows nothing (and says why beside it) rather than everything.
        privacy.refuse_sensitive_search(db.session, args.get("field"), staff_role())
        filters = workflow_queries.filters_from_query(db.session, MultiDict(args))
        extra = console_view.extra_where(args)
        rows, next_cursor = monitor.monitor_page(
            db.session, filters, args.get("sort", "newest"), limit, cursor, extra_where=extra
        )
        console_ctx = console_view.monitor_extras(db.session, args, rows, filters, extra, staff_role())
    except ValidationFailed as exc:
        errors = exc.errors
    except PermissionDenied as exc:
        errors = [{"path": "/query/field", "message": exc.detail}]
    token = monitor.monitor_token(db.session)
    changed = monitor.changed_since(rows, monitor.token_time(since)) if since else set()
    query = urlencode(args)
    page_args = dict(args, **({"cursor": cursor} if cursor else {}))
    sized: dict[str, Any] = (
        {"limit": limit} if request.args.get("limit") else {}
    )  # the pager and the poll keep the page size
    return dict(
        rows=rows,
        next_cursor=next_cursor,
        args=args,
        query=query,
        errors=errors,
        filter_errors=errors_by_field(errors, "/query/"),
        token=token,
        changed=changed,
        cursor=cursor,
        next_url=url_for(".index", **dict(args, **sized, cursor=next_cursor)) if next_cursor else None,
        first_url=url_for(".index", **args, **sized) if cursor else None,
        live_url=url_for(".monitor_live", **page_args, **sized, since=token),
        statuses=STATUSES,
        selected_statuses=(args.get("status") or "").split(","),
        templates=db.session.scalars(sa.select(WorkflowTemplate).order_by(WorkflowTemplate.name)).all(),
        sorts=monitor.SORT_LABELS,
        sort=args.get("sort", "newest"),
        may_act=may_act(),
        poll_s=MONITOR_POLL_S,
        active_nav="workflows",
        **console_ctx,
        saved_views=console_view.views_of_current_user(),
    )


@bp.get("/")
@roles_required()
def index():
    # the operator's console: empty parameters left out of the URL; the default saved view
    target = console_view.redirect_target()
    if target:
        return redirect(target, 302)
    return render("workflows/index.html", "workflows/_monitor.html", **_monitor_context())


@bp.get("/live")
@roles_required()
def monitor_live():  # its session check reads the newest change too (register_read_with_session below)
    """The monitor's poll: 204 after one index probe when no workflow changed since `since`."""
    since = request.args.get("since") or None
    return polled_fragment(
        lambda: monitor.monitor_token(
            db.session, lambda: read_with_session(lambda: db.session.scalar(sa.select(monitor.newest_change())))
        ),
        "workflows/_monitor.html",
        lambda: _monitor_context(since),
    )


register_read_with_session("workflows.monitor_live", monitor.newest_change)


@bp.post("/bulk")
@roles_required(*ACTORS)
def bulk():
    """Cancel or retry the end actions of the selected workflows, each in its own transaction,
    and report what happened to each."""
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        abort(400, "Choose cancel or retry.")
    ids = list(dict.fromkeys(i for i in request.form.getlist("ids") if i))[:500]
    reason = (request.form.get("reason") or "").strip() or "cancelled by an operator"
    results = []
    for wid in ids:
        try:
            if action == "cancel":
                lifecycle.change_status(
                    db.session,
                    wid,
                    "cancelled",
                    actor_name(),
                    reason=reason,
                    source="operator",
                    settings=OutboxSettings.from_config(current_app.config),
                )
                _audit("workflow_cancelled", wid, {"reason": reason, "bulk": True})
                outcome = "cancelled"
            else:
                outbox_actions.retry_end_action(db.session, wid, actor_name())
                _audit("end_action_retried", wid, {"bulk": True})
                outcome = "end action queued again"
            db.session.commit()
            results.append({"id": wid, "ok": True, "message": outcome})
        except Problem as exc:
            db.session.rollback()
            results.append({"id": wid, "ok": False, "message": exc.detail})
    return render("workflows/_bulk_result.html", "workflows/_bulk_result.html", results=results, action=action)


# ------------------------------------------------------------------------------------ detail


def _viewer() -> Viewer:
    return Viewer(role=staff_role(), actor=actor_name(), remote_addr=request.remote_addr or "")


def _commit_and_audit_reveal(reveal: Reveal | None) -> None:
    """Commit the page's transaction, then record a reveal of sensitive values, best effort: in a
    short transaction of its own, after the page's, so that no page fails because its audit row could not be written (the database
    busy with another writer): that is logged, and the page is shown anyway."""
    db.session.commit()
    if reveal is None:
        return
    try:
        with so.Session(db.engine) as session:
            begin_write(session)
            record_reveal(session, reveal)
            session.commit()
    except sa.exc.SQLAlchemyError:
        log.warning(
            "reveal of %s of workflow %s to %s not audited: the database refused the write",
            ", ".join(reveal.fields),
            reveal.workflow_id,
            reveal.actor,
            exc_info=True,
        )


def _workflow_or_404(workflow_id) -> Workflow:
    return found_or_404(workflow_lookup.get_workflow, workflow_id)


def _detail_context(
    wf: Workflow,
    *,
    form_values=None,
    form_errors=None,
    meanwhile=None,
    changed_fields=(),
    etag=None,
    base_seq=None,
    saved=False,
    reveal: str | None = None,
) -> dict[str, Any]:
    """The page's context: what the service shows this viewer, and the state of the form."""
    page = workflow_page(db.session, wf, _viewer(), reveal)
    return dict(
        page.context(),
        form_values=page.state if form_values is None else form_values,
        form_errors=errors_by_field(form_errors or []),
        meanwhile=meanwhile,
        changed_fields=list(changed_fields),
        etag=etag or wf.etag,
        base_seq=wf.event_seq if base_seq is None else base_seq,
        saved=saved,
        may_act=may_act(),
        poll_s=DETAIL_POLL_S,
        active_nav="workflows",
        stale_form=False,
    )


def _state_panel(ctx: dict[str, Any], status: int = 200) -> Response:
    return render("workflows/_state_panel.html", "workflows/_state_panel.html", status=status, **ctx)


def _back_to_workflow(workflow_id):
    """A failed action's answer: its reason flashed, and the workflow page again."""

    def failure(exc: Problem) -> Response:
        flash(exc.detail, "error")
        return hx_redirect(url_for(".show", workflow_id=workflow_id))

    return failure


def _workflow_action(
    wf, action, audit_action: str, message: str, changes: dict | None = None, failure=None
) -> Response:
    """An action on the workflow page: the service call, its audit entry, the commit (a refusal
    answered by ``failure``, see commit_action), the message, and the workflow page again."""
    commit_action(action, failure, lambda _: _audit(audit_action, wf.id, changes))
    flash(message, "success")
    return hx_redirect(url_for(".show", workflow_id=wf.id))


@bp.get("/<workflow_id>")
@roles_required()
def show(workflow_id):
    wf = _workflow_or_404(workflow_id)
    ctx = _detail_context(wf, reveal="page")
    ctx.update(workflow_steps(db.session, wf, staff_role(), request.args.get("step", type=int)).context())
    response = render("workflows/show.html", "workflows/_detail.html", **ctx)
    _commit_and_audit_reveal(ctx["reveal"])
    return response


@bp.get("/<workflow_id>/live")
@roles_required()
def live(workflow_id):
    """The detail page's poll: 204 when the workflow and its jobs did not change (one query on
    the primary key and ix_jobs_workflow); 286 with the final panel once it is terminal."""
    try:
        wid = workflow_lookup.parse_workflow_id(workflow_id)
    except NotFound:
        abort(404)
    token = monitor.workflow_token(db.session, wid)
    if token is None:
        abort(404)
    since = request.args.get("since", "")
    form_etag = request.args.get("etag", "")
    if since == token:
        return UNCHANGED
    wf = _workflow_or_404(wid)
    ctx = _detail_context(wf, reveal="fragment")
    # only an editable form can be stale: a terminal workflow's (or a viewer's) form is read-only
    ctx["stale_form"] = bool(form_etag) and form_etag != wf.etag and may_act() and not wf.is_terminal
    response = render("workflows/_live.html", "workflows/_live.html", **ctx)
    _commit_and_audit_reveal(ctx["reveal"])
    add_trigger(response, "workflowChanged")  # the timeline follows
    if not ctx["polling"]:
        response.status_code = HTMX_STOP_POLLING
    return response


@bp.get("/<workflow_id>/form")
@roles_required()
def state_form(workflow_id):
    wf = _workflow_or_404(workflow_id)
    ctx = _detail_context(wf, reveal="fragment")
    response = _state_panel(ctx)
    _commit_and_audit_reveal(ctx["reveal"])
    return response


@bp.post("/<workflow_id>/state")
@roles_required(*ACTORS)
def save_state(workflow_id):
    wf = _workflow_or_404(workflow_id)
    fields = compiled_for_version(workflow_lookup.version_of(db.session, wf)).fields
    typed = state_values_from_form(fields, request.form)
    etag = request.form.get("etag", "")
    base_seq = request.form.get("base_seq", type=int) or 0

    def save() -> SaveOutcome:
        outcome = save_operator_form(
            db.session,
            wf.id,
            typed,
            etag,
            base_seq,
            actor_name(),
            settings=OutboxSettings.from_config(current_app.config),
        )
        if not outcome.saved:
            # changed meanwhile: nothing was written; the form again, with what changed
            ctx = _detail_context(
                outcome.workflow,
                form_values=outcome.values,
                meanwhile=outcome.meanwhile,
                changed_fields=outcome.changed_fields,
                etag=outcome.etag,
                base_seq=outcome.base_seq,
            )
            abort(_state_panel(ctx, 409))
        return outcome

    def refused(exc: Problem) -> Response:
        wf = _workflow_or_404(workflow_id)
        if isinstance(exc, StateValidationError):
            # counted by the template analytics ("validation failures" per field)
            record_validation_failure(db.session, wf, exc.errors, actor_name(), request.remote_addr or "")
            db.session.commit()
            errors, status = exc.errors, 422
        else:  # a terminal workflow, for instance
            errors, status = [{"path": "", "message": exc.detail}], exc.status
        ctx = _detail_context(
            wf, form_values={**(wf.state_data or {}), **typed}, form_errors=errors, etag=etag, base_seq=base_seq
        )
        return _state_panel(ctx, status)

    def audit(outcome: SaveOutcome) -> None:
        if outcome.changed_fields:
            _audit("workflow_state_updated", wf.id, {"fields": outcome.changed_fields})

    outcome = commit_action(save, refused, audit)
    if not request.headers.get("HX-Request"):
        titles = field_titles(fields)
        flash(
            f"Saved {titled(outcome.changed_fields, titles)}."
            if outcome.changed_fields
            else "Nothing to save: no field changed.",
            "success" if outcome.changed_fields else "info",
        )
        return hx_redirect(url_for(".show", workflow_id=workflow_id))
    wf = _workflow_or_404(workflow_id)
    ctx = _detail_context(wf, changed_fields=outcome.changed_fields, saved=True)
    response = _state_panel(ctx)
    # the complete/cancel card again, without a refusal that the save may have answered
    response.set_data(response.get_data(as_text=True) + render_template("workflows/_actions.html", oob=True, **ctx))
    # the status panels and the timeline refresh themselves once the new form is in place (its
    # etag is what the live poll compares with: fired before the swap, it would send the old one)
    for event in ("stateSaved", "workflowChanged"):
        add_trigger(response, event, header="HX-Trigger-After-Settle")
    return response


@bp.post("/<workflow_id>/status")
@roles_required(*ACTORS)
def change_status(workflow_id):
    wf = _workflow_or_404(workflow_id)
    target = request.form.get("status", "")
    if target not in ("completed", "cancelled"):
        abort(400, "Choose complete or cancel.")
    reason = (request.form.get("reason") or "").strip()
    if target == "cancelled" and not reason:
        reason = "cancelled by an operator"

    def refused(exc: Problem) -> Response:
        ctx = _detail_context(_workflow_or_404(workflow_id))
        ctx.update(action_error=exc.detail, action_errors=exc.errors)
        return render("workflows/_actions.html", "workflows/_actions.html", status=exc.status, **ctx)

    return _workflow_action(
        wf,
        lambda: lifecycle.change_status(
            db.session,
            wf.id,
            target,
            actor_name(),
            reason=reason,
            source="operator",
            settings=OutboxSettings.from_config(current_app.config),
        ),
        f"workflow_{target}",
        f"The workflow is {target}.",
        {"reason": reason} if reason else {},
        refused,
    )


@bp.get("/<workflow_id>/timeline")
@roles_required()
def timeline(workflow_id):
    wf = _workflow_or_404(workflow_id)
    # the steps show the state's values: audited like the other fragments of the page
    reveal = workflow_reveal(db.session, wf, _viewer(), "fragment")
    steps = workflow_steps(db.session, wf, staff_role(), request.args.get("step", type=int))
    response = render("workflows/_stepper.html", "workflows/_stepper.html", **steps.context())
    if request.headers.get("HX-Request") and request.headers.get("HX-Trigger") != "stepper":
        # a step the operator chose (not the timeline following the workflow): in the address
        # bar, so that the link opens this step
        response.headers["HX-Push-Url"] = url_for(".show", workflow_id=wf.id, step=steps.current)
    _commit_and_audit_reveal(reveal)
    return response


@bp.get("/<workflow_id>/history.json")
@roles_required()
def history(workflow_id):
    """The workflow's history as a JSON download: masked for viewers like the page, and audited
    like it when it shows sensitive values."""
    wf = _workflow_or_404(workflow_id)
    document, reveal = history_document(db.session, wf, _viewer())
    body = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    _commit_and_audit_reveal(reveal)
    return Response(
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="workflow-{wf.id}-history.json"'},
    )


@bp.post("/<workflow_id>/dependencies/<name>")
@roles_required(*ACTORS)
def resolve_dependency(workflow_id, name):
    wf = _workflow_or_404(workflow_id)
    outcome = request.form.get("outcome", "")
    if outcome not in ("succeeded", "failed"):
        abort(400, "Choose succeeded or failed.")
    reason = request.form.get("reason", "").strip()
    return _workflow_action(
        wf,
        lambda: outbox_actions.resolve_dependency(
            db.session,
            wf.id,
            name,
            outcome,
            actor_name(),
            settings=OutboxSettings.from_config(current_app.config),
            reason=reason,
        ),
        "dependency_resolved",
        f"Dependency {name} marked {outcome}.",
        {"dependency": name, "outcome": outcome, "reason": reason},
        _back_to_workflow(wf.id),
    )


@bp.post("/<workflow_id>/end-action/retry")
@roles_required(*ACTORS)
def retry_end_action(workflow_id):
    wf = _workflow_or_404(workflow_id)
    return _workflow_action(
        wf,
        lambda: outbox_actions.retry_end_action(db.session, wf.id, actor_name()),
        "end_action_retried",
        "The end action is queued again.",
        failure=_back_to_workflow(wf.id),
    )
