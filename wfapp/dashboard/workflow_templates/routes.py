"""Workflow template pages: list, editor with the schema-driven form builder, versions and diffs,
activate/deactivate, clone, export/import and the LLM tool export."""

import json

from flask import Blueprint, Response, abort, flash, request, url_for

from wfapp.auth import ADMIN, actor_name, roles_required
from wfapp.dashboard.workflow_templates import editor
from wfapp.dashboard.workflow_templates.editor.text import parse_json_text
from wfapp.dashboard.workflow_templates.forms import NameForm
from wfapp.errors import Conflict, NotFound, Problem
from wfapp.extensions import db
from wfapp.models import WorkflowStatus
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import template_catalog as catalog
from wfapp.services import workflow_templates as svc
from wfapp.services.llm_context import llm_tool
from wfapp.services.staff import record_staff_action
from wfapp.web import commit_action, found_or_404, hx_redirect, render

bp = Blueprint("workflow_templates", __name__, url_prefix="/workflow-templates")
STATUSES = [s.value for s in WorkflowStatus]


def _template_or_404(name):
    return found_or_404(svc.get_workflow_template, name)


def _audit(action, template, changes=None):
    record_staff_action(
        db.session,
        actor_name(),
        action,
        "workflow_template",
        str(template.id),
        {"name": template.name, **(changes or {})},
        request.remote_addr or "",
    )


def _page(page, fragment=None, status=200, **ctx):
    """A workflow template page, or its fragment (by default _<page>.html) for htmx."""
    return render(
        f"workflow_templates/{page}.html",
        f"workflow_templates/_{fragment or page}.html",
        status=status,
        active_nav="workflow_templates",
        **ctx,
    )


# ------------------------------------------------------------------------------- list


@bp.get("/")
@roles_required()
def index():
    q = request.args.get("q", "").strip()
    category = request.args.get("category", "").strip() or None
    active = request.args.get("active", "")
    is_active = {"true": True, "false": False}.get(active)
    templates = catalog.search_workflow_templates(db.session, q, category, is_active)
    counts = catalog.workflow_counts_by_status(db.session, [t.id for t in templates])
    return _page(
        "index",
        fragment="table",
        templates=templates,
        counts=counts,
        statuses=STATUSES,
        q=q,
        category=category or "",
        active=active,
        categories=catalog.list_categories(db.session),
    )


# ------------------------------------------------------------------------------- editor


@bp.get("/-/new")
@roles_required(ADMIN)
def new():
    return editor.page(None, editor.initial_state(None))


@bp.post("/-/new")
@roles_required(ADMIN)
def create():
    return editor.save(None)


@bp.get("/<name>/edit")
@roles_required(ADMIN)
def edit(name):
    template = _template_or_404(name)
    return editor.page(template, editor.initial_state(template))


@bp.post("/<name>/edit")
@roles_required(ADMIN)
def update(name):
    return editor.save(_template_or_404(name))


@bp.post("/-/new/op", defaults={"name": None}, endpoint="editor_op")
@bp.post("/<name>/edit/op", endpoint="editor_op")
@roles_required(ADMIN)
def editor_op(name):
    return editor.op(_template_or_404(name) if name else None)


@bp.post("/-/new/preview", defaults={"name": None}, endpoint="preview")
@bp.post("/<name>/edit/preview", endpoint="preview")
@roles_required(ADMIN)
def preview(name):
    return editor.preview(_template_or_404(name) if name else None)


# ------------------------------------------------------------------------------- one template


@bp.get("/<name>")
@roles_required()
def show(name):
    template = _template_or_404(name)
    return _version_page(template, template.current_version)


@bp.get("/<name>/versions/<int:number>")
@roles_required()
def version(name, number):
    template = _template_or_404(name)
    v = found_or_404(svc.get_version, template, number)
    return _version_page(template, v)


def _version_page(template, v):
    compiled = compiled_for_version(v)
    return _page(
        "show",
        template=template,
        version=v,
        compiled=compiled,
        counts=catalog.workflow_counts_by_status(db.session, [template.id])[template.id],
        statuses=STATUSES,
        context=catalog.new_workflow_context(template.name, v.description, v.guidelines, compiled),
        tab="overview",
    )


@bp.get("/<name>/versions")
@roles_required()
def versions(name):
    template = _template_or_404(name)
    versions = list(reversed(svc.list_versions(db.session, template)))
    live = catalog.live_workflows_per_version(db.session, template)
    return _page("versions", template=template, versions=versions, live=live, tab="versions")


@bp.get("/<name>/diff")
@roles_required()
def diff(name):
    template = _template_or_404(name)
    current = template.current_version.number
    try:
        a = int(request.args.get("a", max(current - 1, 1)))
        b = int(request.args.get("b", current))
        va, vb = svc.get_version(db.session, template, a), svc.get_version(db.session, template, b)
    except (ValueError, NotFound):
        abort(404)
    numbers = [v.number for v in svc.list_versions(db.session, template)]
    return _page(
        "diff", template=template, a=va, b=vb, sections=catalog.diff_versions(va, vb), numbers=numbers, tab="versions"
    )


@bp.post("/<name>/active")
@roles_required(ADMIN)
def set_active(name):
    template = _template_or_404(name)
    want = request.form.get("is_active") == "true"
    commit_action(
        lambda: svc.set_template_flags(db.session, template, is_active=want),
        audit=lambda _: _audit("workflow_template_activated" if want else "workflow_template_deactivated", template),
    )
    flash(
        f"{template.name} is {'active: new workflows can start' if want else 'inactive: no new workflows start'}.",
        "success",
    )
    return hx_redirect(url_for(".show", name=template.name))


@bp.route("/<name>/clone", methods=["GET", "POST"])
@roles_required(ADMIN)
def clone(name):
    template = _template_or_404(name)
    form = NameForm(data={"name": f"{template.name}_copy"} if request.method == "GET" else None)
    if request.method == "GET":
        return _clone_page(template, form)
    if not form.validate():
        return _clone_page(template, form, 422)

    def refused(problem: Problem) -> Response:
        form.name.errors = [*form.name.errors, *([e["message"] for e in problem.errors] or [problem.detail])]
        return _clone_page(template, form, 409 if isinstance(problem, Conflict) else 422)

    copy = commit_action(
        lambda: catalog.clone_workflow_template(db.session, template, form.name.data.strip(), actor_name()),
        refused,
        lambda copy: _audit("workflow_template_cloned", copy, {"from": template.name}),
    )
    flash(f"Cloned {template.name} as {copy.name} (inactive until you activate it).", "success")
    return hx_redirect(url_for(".show", name=copy.name))


def _clone_page(template, form, status=200):
    return _page("clone", status=status, template=template, form=form, tab="overview")


@bp.get("/<name>/export")
@roles_required()
def export(name):
    template = _template_or_404(name)
    body = json.dumps(catalog.export_workflow_template(template), indent=2, ensure_ascii=False)
    return Response(
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{template.name}.workflow-template.json"'},
    )


@bp.get("/<name>/tool")
@roles_required()
def tool(name):
    template = _template_or_404(name)
    tool_def = llm_tool(template.name, compiled_for_version(template.current_version))
    return _page("tool", template=template, tool=tool_def, tab="tool")


@bp.route("/-/import", methods=["GET", "POST"])
@roles_required(ADMIN)
def import_template():
    if request.method == "GET":
        return _import_page()
    upload = request.files.get("file")
    text = request.form.get("document", "")
    if upload and upload.filename:
        text = upload.read().decode("utf-8", errors="replace")
    rename = request.form.get("rename", "").strip()
    try:
        document = parse_json_text(text)
    except ValueError as exc:
        return _import_page([{"path": "", "message": str(exc)}], text, rename, 422)

    def refused(problem: Problem) -> Response:
        if isinstance(problem, Conflict):
            message = (
                f"{problem.detail}: nothing was overwritten. Import it under another name, or delete the existing one."
            )
            return _import_page([{"path": "/name", "message": message}], text, rename, 409)
        return _import_page(problem.errors or [{"path": "", "message": problem.detail}], text, rename, 422)

    template = commit_action(
        lambda: catalog.import_workflow_template(db.session, document, actor_name(), rename or None),
        refused,
        lambda template: _audit("workflow_template_imported", template),
    )
    flash(f"Imported {template.name}.", "success")
    return hx_redirect(url_for(".show", name=template.name))


def _import_page(errors=(), text="", rename="", status=200):
    return _page("import", status=status, errors=list(errors), text=text, rename=rename)
