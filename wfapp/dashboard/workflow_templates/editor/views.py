"""The editor's answers for routes.py: the page, its ops, the live preview and saving through
the services the API uses."""

from __future__ import annotations

import copy
import os
from typing import Any

from flask import Response, current_app, flash, request, url_for

from wfapp.auth import actor_name
from wfapp.dashboard.workflow_templates.editor import dependencies, end_action, fields
from wfapp.dashboard.workflow_templates.editor.definition import (
    definition_from_state,
    route_errors,
    state_from_definition,
)
from wfapp.dashboard.workflow_templates.editor.ops import apply_op
from wfapp.dashboard.workflow_templates.editor.sections import SECTIONS
from wfapp.dashboard.workflow_templates.editor.state import EditorState, state_from_form
from wfapp.errors import Conflict, Problem, SchemaError, ValidationFailed
from wfapp.extensions import db
from wfapp.models import WorkflowTemplate
from wfapp.schemas.api import WORKFLOW_TEMPLATE_CREATE, WORKFLOW_TEMPLATE_UPDATE
from wfapp.schemas.definitions import END_ACTION_TYPES
from wfapp.schemas.state_schema import FIELD_TYPES, CompiledSchema, build_compiled, compile_state_schema
from wfapp.services import template_catalog as catalog
from wfapp.services import workflow_templates as svc
from wfapp.services.design_warnings import configured_secret_names, design_warnings, is_granted
from wfapp.services.staff import record_staff_action
from wfapp.services.validation import schema_errors
from wfapp.web import commit_action, hx_redirect, render

FULL, FRAGMENT, PREVIEW = (
    "workflow_templates/edit.html",
    "workflow_templates/_editor.html",
    "workflow_templates/_preview_oob.html",
)


def initial_state(template: WorkflowTemplate | None) -> EditorState:
    if template is None:
        return state_from_definition(True)
    version = template.current_version
    return state_from_definition(False, template.name, template.category, version.definition() if version else None)


def validate(state: EditorState, template: WorkflowTemplate | None) -> dict[str, Any]:
    """Collect every mistake: the form's own, the API's request schema, the definition rules."""
    state.clear_errors()
    body = definition_from_state(state)
    unparsed = [s.key for s in SECTIONS if s.key not in body]
    check = dict(body, **{s.key: copy.deepcopy(s.empty) for s in SECTIONS if s.key in unparsed})
    errors = schema_errors(WORKFLOW_TEMPLATE_CREATE if template is None else WORKFLOW_TEMPLATE_UPDATE, check)
    if not errors:
        try:
            svc.validate_definition(check)
        except ValidationFailed as exc:
            errors = exc.errors
    route_errors(state, [e for e in errors if not any(e["path"].startswith(f"/{k}") for k in unparsed)])
    return body


def _quiet_untouched_name(state: EditorState) -> None:
    """While a new template is being built, an empty name is not worth a complaint yet (saving
    still reports it)."""
    if state.is_new and not state.name:
        state.general.pop("name", None)


def compile_preview(state: EditorState, body: dict[str, Any]) -> CompiledSchema | None:
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


def _urls(template: WorkflowTemplate | None) -> dict[str, str]:
    if template is None:
        return dict(
            save=url_for(".create"), op=url_for(".editor_op"), preview=url_for(".preview"), cancel=url_for(".index")
        )
    return dict(
        save=url_for(".update", name=template.name),
        op=url_for(".editor_op", name=template.name),
        preview=url_for(".preview", name=template.name),
        cancel=url_for(".show", name=template.name),
    )


# What every editor page offers to choose from, and how it names the choices and the mistakes.
CHOICES = {
    "field_types": FIELD_TYPES,
    "type_labels": fields.TYPE_LABELS,
    "constraints": fields.CONSTRAINTS,
    "constraint_labels": fields.CONSTRAINT_LABELS,
    "row_labels": fields.ERROR_LABELS,
    "dep_labels": dependencies.ERROR_LABELS,
    "ea_labels": end_action.ERROR_LABELS,
    "end_action_types": END_ACTION_TYPES,
    "end_action_labels": end_action.TYPE_LABELS,
    "http_methods": dependencies.HTTP_METHODS,
    "failure_actions": dependencies.FAILURE_ACTIONS,
}


def _context(template: WorkflowTemplate | None, state: EditorState, body: dict[str, Any] | None = None) -> dict:
    if body is None:
        body = validate(state, template)
    compiled = compile_preview(state, body)
    name = template.name if template is not None else (state.name or "new_workflow_template")
    llm_context = (
        catalog.new_workflow_context(name, state.description, state.guidelines, compiled) if compiled else None
    )
    warnings = design_warnings(
        body,
        configured_secrets=configured_secret_names(os.environ, current_app.config),
        outbound_allow=current_app.config.get("OUTBOUND_ALLOW"),
        granted=is_granted(db.session, template.id) if template is not None else None,
    )
    return dict(
        active_nav="workflow_templates",
        template=template,
        state=state,
        compiled=compiled,
        warnings=warnings,
        llm_context=llm_context,
        urls=_urls(template),
        template_names=[t.name for t in svc.list_workflow_templates(db.session)],
        **CHOICES,
    )


def page(template: WorkflowTemplate | None, state: EditorState) -> Response:
    ctx = _context(template, state)
    # A page just opened shows no complaints about the fields not filled yet.
    state.clear_errors()
    return render(FULL, FRAGMENT, **ctx)


def posted_state(template: WorkflowTemplate | None) -> EditorState:
    """The state of the posted form; an existing template's name is its own (the page shows it
    read-only, so the form does not send it)."""
    state = state_from_form(request.form, template is None)
    if template is not None:
        state.name = template.name
    return state


def op(template: WorkflowTemplate | None) -> Response:
    state = posted_state(template)
    apply_op(state, request.form.get("op", ""))
    keep = list(state.schema_errors), list(state.deps_errors), dict(state.ea_errors)
    ctx = _context(template, state)
    # messages of a refused mode switch stay visible
    state.schema_errors[:0] = [m for m in keep[0] if m not in state.schema_errors]
    state.deps_errors[:0] = [m for m in keep[1] if m not in state.deps_errors]
    for k, v in keep[2].items():
        state.ea_errors.setdefault(k, [])[:0] = v
    _quiet_untouched_name(state)
    return render(FULL, FRAGMENT, **ctx)


def preview(template: WorkflowTemplate | None) -> Response:
    state = posted_state(template)
    ctx = _context(template, state)
    _quiet_untouched_name(state)
    return render(FULL, PREVIEW, **ctx)


def save(template: WorkflowTemplate | None) -> Response:
    state = posted_state(template)
    body = validate(state, template)
    if state.has_errors:
        return _refused(template, state, body)

    def store() -> tuple[WorkflowTemplate, bool]:
        if template is None:
            return svc.create_workflow_template(db.session, body, actor_name()), True
        return template, svc.update_workflow_template(db.session, template, body, actor_name())

    def audit(result: tuple[WorkflowTemplate, bool]) -> None:
        saved = result[0]
        record_staff_action(
            db.session,
            actor_name(),
            "workflow_template_created" if template is None else "workflow_template_changed",
            "workflow_template",
            str(saved.id),
            {"name": saved.name, "version": _number(saved), "change_note": body.get("change_note", "")},
            request.remote_addr or "",
        )

    def failure(problem: Problem) -> Response:
        if isinstance(problem, Conflict):
            state.general.setdefault("name", []).append(problem.detail)
        else:
            route_errors(state, problem.errors or [{"path": "", "message": problem.detail}])
        return _refused(template, state, body)

    saved, made_version = commit_action(store, failure, audit)
    number = _number(saved)
    if made_version:
        flash(
            f"Saved {saved.name} version {number}. New workflows start on it; running ones stay on theirs.", "success"
        )
    else:
        flash(f"No change: the definition is the same as version {number}, so no version was made.", "info")
    return hx_redirect(url_for(".show", name=saved.name))


def _number(template: WorkflowTemplate) -> int:
    """The current version's number (a saved template always has one)."""
    assert template.current_version is not None
    return template.current_version.number


def _refused(template: WorkflowTemplate | None, state: EditorState, body: dict[str, Any]) -> Response:
    ctx = _context(template, state, body=body)
    return render(FULL, FRAGMENT, status=422, save_failed=True, **ctx)
