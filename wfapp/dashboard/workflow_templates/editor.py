"""The editor of a workflow template's definition (new template or new version): the form
builder, its live preview, and saving through the services the API uses."""

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for

from wfapp.auth import actor_name
from wfapp.dashboard.workflow_templates.forms import (
    CONSTRAINT_LABELS,
    CONSTRAINTS,
    FAILURE_ACTIONS,
    HTTP_METHODS,
    TYPE_LABELS,
    EditorState,
    apply_op,
    definition_from_state,
    route_errors,
    state_from_definition,
    state_from_form,
)
from wfapp.extensions import db
from wfapp.models import WorkflowTemplate
from wfapp.schemas.api import WORKFLOW_TEMPLATE_CREATE, WORKFLOW_TEMPLATE_UPDATE
from wfapp.schemas.definitions import END_ACTION_TYPES
from wfapp.schemas.state_schema import FIELD_TYPES, build_compiled, compile_state_schema
from wfapp.services import template_catalog as catalog
from wfapp.services import workflow_templates as svc
from wfapp.services.errors import Conflict, SchemaError, ValidationFailed
from wfapp.services.staff import record_staff_action
from wfapp.services.validation import schema_errors
from wfapp.web import hx_redirect, render

SECTIONS = {"state_schema": "schema", "workflow_dependencies": "deps", "end_action_target": "ea"}


def initial_state(template: WorkflowTemplate | None) -> EditorState:
    if template is None:
        return state_from_definition(True)
    return state_from_definition(False, template.name, template.category, template.current_version.definition())


def validate(state: EditorState, template: WorkflowTemplate | None) -> dict[str, Any]:
    """Collect every mistake: the form's own, the API's request schema, the definition rules."""
    state.clear_errors()
    body = definition_from_state(state)
    unparsed = {k for k in SECTIONS if k not in body}
    request_schema = WORKFLOW_TEMPLATE_CREATE if template is None else WORKFLOW_TEMPLATE_UPDATE
    check = {k: v for k, v in body.items()}
    for k in unparsed:
        check[k] = {"state_schema": {}, "workflow_dependencies": [], "end_action_target": None}[k]
    errors = schema_errors(request_schema, check)
    if not errors:
        try:
            svc.validate_definition(check)
        except ValidationFailed as exc:
            errors = exc.errors
    errors = [e for e in errors if not any(e["path"].startswith(f"/{k}") for k in unparsed)]
    route_errors(state, errors)
    return body


def _quiet_untouched_name(state: EditorState) -> None:
    """While a new template is being built, an empty name is not worth a complaint yet (saving
    still reports it)."""
    if state.is_new and not state.name:
        state.general.pop("name", None)


def compile_preview(state: EditorState, body: dict[str, Any]):
    """The compiled schema for the live preview; with mistakes in some builder rows, the rows
    that are fine still show."""
    schema = body.get("state_schema")
    if not isinstance(schema, dict):
        return None
    try:
        return build_compiled(compile_state_schema(schema))
    except (SchemaError, ValidationFailed):
        pass
    if state.schema_mode == "raw":
        return None
    bad = {state.rows[i]["key"].strip() for i in state.row_errors if i < len(state.rows)}
    good = {k: v for k, v in schema.items() if k not in bad}
    try:
        return build_compiled(compile_state_schema(good))
    except (SchemaError, ValidationFailed):
        return None


def _context(template, state: EditorState, body=None, status: int = 200, **extra):
    if body is None:
        body = validate(state, template)
    compiled = compile_preview(state, body)
    name = template.name if template is not None else (state.name or "new_workflow_template")
    llm_context = (
        catalog.new_workflow_context(name, state.description, state.guidelines, compiled) if compiled else None
    )
    if template is None:
        urls = dict(
            save=url_for(".create"), op=url_for(".editor_op"), preview=url_for(".preview"), cancel=url_for(".index")
        )
    else:
        urls = dict(
            save=url_for(".update", name=template.name),
            op=url_for(".editor_op", name=template.name),
            preview=url_for(".preview", name=template.name),
            cancel=url_for(".show", name=template.name),
        )
    return dict(
        active_nav="workflow_templates",
        template=template,
        state=state,
        compiled=compiled,
        llm_context=llm_context,
        urls=urls,
        field_types=FIELD_TYPES,
        type_labels=TYPE_LABELS,
        constraints=CONSTRAINTS,
        constraint_labels=CONSTRAINT_LABELS,
        end_action_types=END_ACTION_TYPES,
        http_methods=HTTP_METHODS,
        failure_actions=FAILURE_ACTIONS,
        template_names=[t.name for t in svc.list_workflow_templates(db.session)],
        **extra,
    )


def page(template, state: EditorState, status: int = 200, show_errors: bool = False):
    ctx = _context(template, state)
    if not show_errors:
        # A page just opened shows no complaints about the fields not filled yet.
        state.clear_errors()
    return render("workflow_templates/edit.html", "workflow_templates/_editor.html", status=status, **ctx)


def op(template):
    state = state_from_form(request.form, template is None)
    apply_op(state, request.form.get("op", ""))
    keep = list(state.schema_errors), list(state.deps_errors), dict(state.ea_errors)
    ctx = _context(template, state)
    # messages of a refused mode switch stay visible
    state.schema_errors[:0] = [m for m in keep[0] if m not in state.schema_errors]
    state.deps_errors[:0] = [m for m in keep[1] if m not in state.deps_errors]
    for k, v in keep[2].items():
        state.ea_errors.setdefault(k, [])[:0] = v
    _quiet_untouched_name(state)
    return render("workflow_templates/edit.html", "workflow_templates/_editor.html", **ctx)


def preview(template):
    state = state_from_form(request.form, template is None)
    ctx = _context(template, state)
    _quiet_untouched_name(state)
    return render("workflow_templates/edit.html", "workflow_templates/_preview_oob.html", **ctx)


def save(template):
    state = state_from_form(request.form, template is None)
    body = validate(state, template)
    if not state.has_errors:
        try:
            if template is None:
                saved = svc.create_workflow_template(db.session, body, actor_name())
                made_version = True
            else:
                made_version = svc.update_workflow_template(db.session, template, body, actor_name())
                saved = template
        except Conflict as exc:
            db.session.rollback()
            state.general.setdefault("name", []).append(exc.detail)
        except ValidationFailed as exc:
            db.session.rollback()
            route_errors(state, exc.errors or [{"path": "", "message": exc.detail}])
        else:
            number = saved.current_version.number
            record_staff_action(
                db.session,
                actor_name(),
                "workflow_template_created" if template is None else "workflow_template_changed",
                "workflow_template",
                str(saved.id),
                {"name": saved.name, "version": number, "change_note": body.get("change_note", "")},
                request.remote_addr or "",
            )
            db.session.commit()
            if made_version:
                flash(
                    f"Saved {saved.name} version {number}. New workflows start on it; running ones stay on theirs.",
                    "success",
                )
            else:
                flash(f"No change: the definition is the same as version {number}, so no version was made.", "info")
            return hx_redirect(url_for(".show", name=saved.name))
    ctx = _context(template, state, body=body)
    ctx["save_failed"] = True
    return render("workflow_templates/edit.html", "workflow_templates/_editor.html", status=422, **ctx)
