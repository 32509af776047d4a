"""Read models and whole-template operations of the dashboard's workflow template pages:
search with counts per status, live workflows per version, clone, export/import, version diffs,
and the preview of the LLM context for a new workflow. Writes go through
wfapp.services.workflow_templates (the rules the API uses)."""

from __future__ import annotations

import copy
import difflib
import json
import uuid
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, ValidationFailed
from wfapp.models import TemplateVersion, Workflow, WorkflowStatus, WorkflowTemplate
from wfapp.models.workflows import OPEN_STATUSES
from wfapp.schemas.api import WORKFLOW_TEMPLATE_CREATE
from wfapp.schemas.state_schema import CompiledSchema
from wfapp.services.llm_context import build_context
from wfapp.services.validation import schema_errors
from wfapp.services.workflow_templates import create_workflow_template


def search_workflow_templates(
    session: so.Session, q: str = "", category: str | None = None, is_active: bool | None = None
) -> list[WorkflowTemplate]:
    """Workflow templates whose name or current description contains q (case-insensitive)."""
    stmt = (
        sa.select(WorkflowTemplate)
        .outerjoin(TemplateVersion, TemplateVersion.id == WorkflowTemplate.current_version_id)
        .order_by(WorkflowTemplate.name)
    )
    if q:
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(WorkflowTemplate.name).like(like, escape="\\"),
                sa.func.lower(TemplateVersion.description).like(like, escape="\\"),
            )
        )
    if category:
        stmt = stmt.where(WorkflowTemplate.category == category)
    if is_active is not None:
        stmt = stmt.where(WorkflowTemplate.is_active == is_active)
    return list(session.scalars(stmt).unique())


def list_categories(session: so.Session) -> list[str]:
    return [
        c
        for c in session.scalars(sa.select(WorkflowTemplate.category).distinct().order_by(WorkflowTemplate.category))
        if c
    ]


def workflow_counts_by_status(session: so.Session, template_ids) -> dict[uuid.UUID, dict[str, int]]:
    """{template_id: {status: count}} in one grouped query."""
    ids = list(template_ids)
    out: dict[uuid.UUID, dict[str, int]] = {tid: {} for tid in ids}
    if not ids:
        return out
    rows = session.execute(
        sa.select(Workflow.template_id, Workflow.status, sa.func.count())
        .where(Workflow.template_id.in_(ids))
        .group_by(Workflow.template_id, Workflow.status)
    )
    for tid, status, count in rows:
        out.setdefault(tid, {})[str(WorkflowStatus(status))] = count
    return out


def live_workflows_per_version(session: so.Session, template: WorkflowTemplate) -> dict[int, int]:
    """{template_version_id: number of workflows still open (active or waiting) on it}."""
    rows = session.execute(
        sa.select(Workflow.template_version_id, sa.func.count())
        .where(Workflow.template_id == template.id, Workflow.status.in_(OPEN_STATUSES))
        .group_by(Workflow.template_version_id)
    )
    return {vid: count for vid, count in rows}


def export_workflow_template(template: WorkflowTemplate, version: TemplateVersion | None = None) -> dict[str, Any]:
    """The template as a body that POST /api/workflow-templates and import accept."""
    v = version or template.current_version
    return {
        "name": template.name,
        "category": template.category,
        "is_active": template.is_active,
        **{f: copy.deepcopy(getattr(v, f)) for f in TemplateVersion.DEFINITION_FIELDS},
    }


def import_workflow_template(
    session: so.Session, document: Any, actor: str, rename_to: str | None = None
) -> WorkflowTemplate:
    """Create a workflow template from an exported document, validated like the API's POST. A
    name that exists is refused (Conflict), never overwritten."""
    if not isinstance(document, dict):
        raise ValidationFailed(
            "an exported workflow template is a JSON object", [{"path": "", "message": "must be a JSON object"}]
        )
    body = {k: v for k, v in document.items() if k != "change_note"}
    if rename_to:
        body["name"] = rename_to
    errors = schema_errors(WORKFLOW_TEMPLATE_CREATE, body)
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) in the imported document", errors)
    body["change_note"] = document.get("change_note") or "imported"
    return create_workflow_template(session, body, actor)


def clone_workflow_template(
    session: so.Session, template: WorkflowTemplate, new_name: str, actor: str
) -> WorkflowTemplate:
    """A new workflow template (version 1, inactive) with the current definition of another."""
    body = export_workflow_template(template)
    body["name"] = new_name
    body["is_active"] = False
    errors = schema_errors(WORKFLOW_TEMPLATE_CREATE, body)
    if errors:
        raise ValidationFailed(errors[0]["message"], errors)
    current = template.current_version
    assert current is not None  # a stored template always has one (version 1 is made with it)
    body["change_note"] = f"cloned from {template.name} version {current.number}"
    return create_workflow_template(session, body, actor)


def _lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, ensure_ascii=False).splitlines()


DIFF_SECTIONS = (
    ("state_schema", "State schema"),
    ("guidelines", "Guidelines"),
    ("description", "Description"),
    ("workflow_dependencies", "Dependencies"),
    ("end_action", "End action"),
)


def diff_versions(a: TemplateVersion, b: TemplateVersion) -> list[dict[str, Any]]:
    """Side-by-side diff of two versions, one section per part of the definition. Each section:
    {key, title, changed, rows: [(kind, left, right)]} with kind same|changed|added|removed."""
    sections = []
    for key, title in DIFF_SECTIONS:
        if key == "end_action":
            left = {"end_action_type": a.end_action_type, "end_action_target": a.end_action_target}
            right = {"end_action_type": b.end_action_type, "end_action_target": b.end_action_target}
        else:
            left, right = getattr(a, key), getattr(b, key)
        l_lines, r_lines = _lines(left), _lines(right)
        rows: list[tuple[str, str | None, str | None]] = []
        matcher = difflib.SequenceMatcher(a=l_lines, b=r_lines, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                rows.extend(
                    ("same", l_lines[i], r_lines[j]) for i, j in zip(range(i1, i2), range(j1, j2), strict=False)
                )
            else:
                lpart, rpart = l_lines[i1:i2], r_lines[j1:j2]
                for n in range(max(len(lpart), len(rpart))):
                    lv = lpart[n] if n < len(lpart) else None
                    rv = rpart[n] if n < len(rpart) else None
                    kind = "changed" if lv is not None and rv is not None else ("removed" if rv is None else "added")
                    rows.append((kind, lv, rv))
        sections.append({"key": key, "title": title, "changed": left != right, "rows": rows})
    return sections


def new_workflow_context(name: str, description: str, guidelines: str, compiled: CompiledSchema) -> dict[str, Any]:
    """What GET /api/workflows/{id}/context answers for a workflow of this definition that has
    just started (defaults applied, nothing else collected)."""
    return build_context(name, None, description, guidelines, compiled, compiled.defaults())


def ensure_name_free(session: so.Session, name: str) -> None:
    existing = session.scalar(sa.select(WorkflowTemplate.id).where(WorkflowTemplate.name == name))
    if existing is not None:
        raise Conflict(f"a workflow template named {name!r} exists", existing_id=str(existing))
