"""Workflow templates: create, change (every definition change is a new immutable version),
activate/deactivate, delete (refused while workflows exist)."""

import re
import uuid
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, ValidationFailed, WorkflowTemplateNotFound
from wfapp.models import Permission, TemplateVersion, Workflow, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.outbox.placeholders import request_errors
from wfapp.schemas.definitions import (
    END_ACTION_TARGET,
    END_ACTION_TYPES,
    ESCALATION,
    WORKFLOW_DEPENDENCIES,
    dependency_defaults,
)
from wfapp.schemas.state_schema import ESCALATE_AFTER, compile_state_schema, is_full_schema
from wfapp.schemas.tools import RESERVED
from wfapp.services import timers
from wfapp.services.validation import schema_errors

DEFINITION_DEFAULTS: dict[str, Any] = {
    "description": "",
    "guidelines": "",
    "workflow_dependencies": [],
    "end_action_type": "none",
    "end_action_target": None,
    "timers": None,
    "ask_optional": True,
    "escalation": None,
}


def get_workflow_template(session: so.Session, ref: str | uuid.UUID) -> WorkflowTemplate:
    """A workflow template by id or by name."""
    template = None
    if isinstance(ref, uuid.UUID):
        template = session.get(WorkflowTemplate, ref)
    else:
        try:
            template = session.get(WorkflowTemplate, uuid.UUID(str(ref)))
        except ValueError:
            template = None
        if template is None:
            template = session.scalar(sa.select(WorkflowTemplate).where(WorkflowTemplate.name == str(ref)))
    if template is None:
        raise WorkflowTemplateNotFound(f"no workflow template with id or name {str(ref)!r}")
    return template


def find_workflow_template(session: so.Session, ref: str) -> WorkflowTemplate | None:
    try:
        return get_workflow_template(session, ref)
    except WorkflowTemplateNotFound:
        return None


FIELD_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$")
FIELD_KEY_RULE = "a field key is ASCII letters, digits, _ and - (no spaces or accents), at most 100 characters"


def field_key_errors(state_schema: Any) -> list[dict[str, str]]:
    """Field keys travel in URLs, searches and the LLM's function call: like workflow template
    names, they are plain ASCII names. (Checked when a version is saved: versions saved
    before still load.)"""
    if not isinstance(state_schema, dict):
        return []
    full = is_full_schema(state_schema)
    keys = state_schema["properties"] if full else state_schema
    base = "/state_schema/properties/" if full else "/state_schema/"
    return [
        {"path": base + str(k).replace("~", "~0").replace("/", "~1"), "message": FIELD_KEY_RULE}
        for k in keys
        if not isinstance(k, str) or not FIELD_KEY_RE.match(k)
    ]


def validate_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """Check a template definition; returns it normalised. Raises ValidationFailed listing
    every problem (state_schema, dependencies, end action)."""
    errors: list[dict[str, str]] = []
    d = {**DEFINITION_DEFAULTS, **{k: v for k, v in definition.items() if k in TemplateVersion.DEFINITION_FIELDS}}
    if "state_schema" not in definition:
        errors.append({"path": "/state_schema", "message": "is required"})
        compiled = None
    else:
        errors.extend(field_key_errors(d["state_schema"]))
        try:
            compiled = compile_state_schema(d["state_schema"])
        except ValidationFailed as exc:
            errors.extend(e for e in exc.errors if e not in errors)
            compiled = None
    errors.extend(_conversation_errors(d, compiled))
    deps = d["workflow_dependencies"] if d["workflow_dependencies"] is not None else []
    dep_errors = schema_errors(WORKFLOW_DEPENDENCIES, deps, "/workflow_dependencies")
    errors.extend(dep_errors)
    if not dep_errors:
        fields = set((compiled or {}).get("properties", {}))
        seen: set[str] = set()
        stored: set[str | None] = set()
        for i, dep in enumerate(deps):
            if dep["name"] in seen:
                errors.append(
                    {
                        "path": f"/workflow_dependencies/{i}/name",
                        "message": f"duplicate dependency name {dep['name']!r}",
                    }
                )
            seen.add(dep["name"])
            store_as = dep.get("store_as")
            if store_as and store_as in fields:
                errors.append(
                    {
                        "path": f"/workflow_dependencies/{i}/store_as",
                        "message": f"{store_as!r} is a field of the state_schema: a dependency's answer is written "
                        "by wfapp alone, so store it under a key the state_schema does not declare",
                    }
                )
            if store_as and store_as in stored:
                errors.append(
                    {
                        "path": f"/workflow_dependencies/{i}/store_as",
                        "message": f"two dependencies store as {store_as!r}",
                    }
                )
            stored.add(store_as)
            if dep.get("api"):
                errors.extend(
                    request_errors(dep["api"], f"/workflow_dependencies/{i}/api", f"dependency {dep['name']}")
                )
            when = dep.get("when")
            if isinstance(when, dict) and compiled is not None:
                for f in when["fields"]:
                    if f not in fields:
                        errors.append(
                            {"path": f"/workflow_dependencies/{i}/when/fields", "message": f"unknown field {f!r}"}
                        )
        d["workflow_dependencies"] = [dependency_defaults(dep) for dep in deps]
    if d["end_action_type"] not in END_ACTION_TYPES:
        errors.append({"path": "/end_action_type", "message": f"must be one of {', '.join(END_ACTION_TYPES)}"})
    else:
        target = d["end_action_target"]
        target_errors = schema_errors(END_ACTION_TARGET, target, "/end_action_target")
        expected = {"api_call": "endpoint", "start_workflow": "template"}.get(d["end_action_type"])
        if expected and not (isinstance(target, dict) and expected in target):
            target_errors = target_errors or [
                {
                    "path": f"/end_action_target/{expected}",
                    "message": f"is required for end_action_type {d['end_action_type']}",
                }
            ]
            if not any(e["path"].endswith(expected) for e in target_errors):
                target_errors.append(
                    {
                        "path": f"/end_action_target/{expected}",
                        "message": f"is required for end_action_type {d['end_action_type']}",
                    }
                )
        if d["end_action_type"] == "none" and target not in (None, {}):
            target_errors = [{"path": "/end_action_target", "message": "must be null when end_action_type is none"}]
        errors.extend(target_errors)
        if not target_errors and isinstance(target, dict) and "endpoint" in target:
            errors.extend(request_errors(target, "/end_action_target", "end action"))
        if d["end_action_type"] == "none":
            d["end_action_target"] = None
    timers.normalise_definition(d, errors)  # timers and dependency timeouts, as seconds
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) in the workflow template definition", errors)
    return d


def _conversation_errors(d: dict[str, Any], compiled: dict[str, Any] | None) -> list[dict[str, str]]:
    """ask_optional, escalation, and the fields' escalate-after settings and names."""
    errors: list[dict[str, str]] = []
    if not isinstance(d["ask_optional"], bool):
        errors.append({"path": "/ask_optional", "message": "must be true or false"})
    errors.extend(schema_errors(ESCALATION, d["escalation"], "/escalation"))
    if d["escalation"] == {}:
        d["escalation"] = None
    full = isinstance(d.get("state_schema"), dict) and "properties" in d["state_schema"]
    for key, prop in ((compiled or {}).get("properties") or {}).items():
        path = f"/state_schema/properties/{key}" if full else f"/state_schema/{key}"
        if key in RESERVED:  # arguments of the LLM tool that are no fields
            errors.append({"path": path, "message": f"{key!r} is reserved for the LLM tool: name the field otherwise"})
        after = prop.get(ESCALATE_AFTER) if isinstance(prop, dict) else None
        if after is not None and (not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= 100):
            name = ESCALATE_AFTER if full else "escalate_after"
            errors.append({"path": f"{path}/{name}", "message": "must be a whole number from 1 to 100"})
    return errors


def create_workflow_template(session: so.Session, data: dict[str, Any], actor: str) -> WorkflowTemplate:
    name = data["name"]
    definition = validate_definition(data)
    existing = session.scalar(sa.select(WorkflowTemplate.id).where(WorkflowTemplate.name == name))
    if existing is not None:
        raise Conflict(f"a workflow template named {name!r} exists", existing_id=str(existing))
    now = utcnow()
    template = WorkflowTemplate(
        id=uuid.uuid4(),
        name=name,
        category=data.get("category") or "",
        is_active=data.get("is_active", True),
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    session.flush()
    _add_version(session, template, definition, 1, data.get("change_note") or "created", actor)
    return template


def _add_version(
    session: so.Session,
    template: WorkflowTemplate,
    definition: dict[str, Any],
    number: int,
    change_note: str,
    actor: str,
) -> TemplateVersion:
    version = TemplateVersion(
        template_id=template.id,
        number=number,
        change_note=change_note,
        created_by=actor,
        created_at=utcnow(),
        **definition,
    )
    session.add(version)
    session.flush()
    template.current_version = version
    template.current_version_id = version.id
    template.updated_at = utcnow()
    return version


def update_workflow_template(session: so.Session, template: WorkflowTemplate, data: dict[str, Any], actor: str) -> bool:
    """Apply a new definition. Definition fields left out keep their current value. Returns
    whether a new version was made (an unchanged definition makes none)."""
    current = template.current_version
    assert current is not None  # a stored template always has one (version 1 is made with it)
    merged = {**current.definition(), **{k: v for k, v in data.items() if k in TemplateVersion.DEFINITION_FIELDS}}
    definition = validate_definition(merged)
    if "name" in data and data["name"] != template.name:
        clash = session.scalar(sa.select(WorkflowTemplate.id).where(WorkflowTemplate.name == data["name"]))
        if clash is not None:
            raise Conflict(f"a workflow template named {data['name']!r} exists", existing_id=str(clash))
        template.name = data["name"]
        template.updated_at = utcnow()
    set_template_flags(session, template, data.get("is_active"), data.get("category"))
    if definition == current.definition():
        return False
    _add_version(session, template, definition, current.number + 1, data.get("change_note") or "", actor)
    return True


def set_template_flags(
    session: so.Session, template: WorkflowTemplate, is_active: bool | None = None, category: str | None = None
) -> None:
    """Template-level switches: no new version."""
    if is_active is not None and is_active != template.is_active:
        template.is_active = is_active
        template.updated_at = utcnow()
    if category is not None and category != template.category:
        template.category = category
        template.updated_at = utcnow()


def delete_workflow_template(session: so.Session, template: WorkflowTemplate) -> None:
    count = session.scalar(sa.select(sa.func.count()).select_from(Workflow).where(Workflow.template_id == template.id))
    if count:
        raise Conflict(
            f"workflow template {template.name!r} has {count} workflow(s); deactivate it instead", workflows=count
        )
    session.execute(sa.delete(Permission).where(Permission.workflow_template_id == template.id))
    template.current_version_id = None
    template.current_version = None
    session.flush()
    session.execute(sa.delete(TemplateVersion).where(TemplateVersion.template_id == template.id))
    session.delete(template)
    session.flush()


def list_workflow_templates(
    session: so.Session, category: str | None = None, is_active: bool | None = None, user_type_id: str | None = None
) -> list[WorkflowTemplate]:
    q = sa.select(WorkflowTemplate).order_by(WorkflowTemplate.name)
    if category is not None:
        q = q.where(WorkflowTemplate.category == category)
    if is_active is not None:
        q = q.where(WorkflowTemplate.is_active == is_active)
    if user_type_id is not None:
        q = q.join(Permission, Permission.workflow_template_id == WorkflowTemplate.id).where(
            Permission.user_type_id == user_type_id
        )
    return list(session.scalars(q).unique())


def list_versions(session: so.Session, template: WorkflowTemplate) -> list[TemplateVersion]:
    return list(
        session.scalars(
            sa.select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.number)
        )
    )


def get_version(session: so.Session, template: WorkflowTemplate, number: int) -> TemplateVersion:
    version = session.scalar(
        sa.select(TemplateVersion).where(TemplateVersion.template_id == template.id, TemplateVersion.number == number)
    )
    if version is None:
        raise WorkflowTemplateNotFound(f"workflow template {template.name!r} has no version {number}")
    return version
