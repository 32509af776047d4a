"""Moving live workflows of a workflow template to another of its versions.

A dry run (``plan``) tells, per workflow, which collected fields are valid, invalid or missing
under the target version and which dependencies would run again; ``migrate_workflow`` and
``migrate_workflows`` apply the plans that pass, one ``migrated`` event each. A workflow never
lands in a state it could not have reached by writes: any collected field invalid under the
target refuses the migration, and so do terminal workflows and a dependency in flight whose
definition the target changes. Dependencies the target defines differently (or anew) are
forgotten and run again once their trigger is met (at once for on_start ones).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, NotFound, StateValidationError, ValidationFailed
from wfapp.models import TemplateVersion, Workflow, WorkflowStatus, WorkflowTemplate
from wfapp.schemas.state_schema import compiled_for_version
from wfapp.services import dependencies
from wfapp.services.events import record_event
from wfapp.services.outbox import OutboxSettings
from wfapp.services.workflow_lookup import get_workflow, parse_workflow_id
from wfapp.services.workflow_templates import get_workflow_template

MAX_BULK = 1000


@dataclass
class MigrationPlan:
    workflow_id: uuid.UUID
    status: str
    from_version: int | None
    to_version: int
    valid: list[str] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)  # {"field", "path", "message"}
    missing: list[str] = field(default_factory=list)  # required under the target, not collected
    dependencies_rerun: list[str] = field(default_factory=list)
    refusal: str | None = None
    migrated: bool = False

    @property
    def ok(self) -> bool:
        return self.refusal is None

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": str(self.workflow_id),
            "status": self.status,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "ok": self.ok,
            "migrated": self.migrated,
            "refusal": self.refusal,
            "fields": {
                "valid": self.valid,
                "invalid": [{"field": e["field"], "message": e["message"]} for e in self.invalid],
                "missing": self.missing,
            },
            "dependencies_rerun": self.dependencies_rerun,
        }


def _definitions(version: TemplateVersion) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in dependencies.definitions(version)}


def plan(wf: Workflow, current: TemplateVersion, target: TemplateVersion) -> MigrationPlan:
    """What migrating `wf` from `current` to `target` would do (reads nothing more, writes nothing)."""
    p = MigrationPlan(wf.id, str(wf.status), current.number, target.number)
    state = wf.state_data or {}
    compiled = compiled_for_version(target)
    errors = compiled.validate_merge(state, state.keys())
    p.invalid = [
        {"field": e.get("field") or "", "path": e["path"], "message": e["message"]} for e in errors if e.get("path")
    ]
    bad = {e["field"] for e in p.invalid}
    p.valid = [k for k in state if k not in bad]
    p.missing = [f.key for f in compiled.missing(state) if f.required]
    before, after = _definitions(current), _definitions(target)
    fired = wf.pending_dependencies or {}
    running = []
    for name, entry in fired.items():
        if after.get(name) == before.get(name):
            continue
        if entry.get("state") == dependencies.PENDING:
            running.append(name)
        elif name in after:
            p.dependencies_rerun.append(name)
    if WorkflowStatus(wf.status).is_terminal:
        p.refusal = f"the workflow is {wf.status}: a finished workflow stays on its version"
    elif wf.template_id != target.template_id:
        p.refusal = "the target version belongs to another workflow template"
    elif current.id == target.id:
        p.refusal = f"the workflow is on version {target.number} already"
    elif p.invalid:
        p.refusal = f"{len(p.invalid)} collected field(s) would be invalid under version {target.number}"
    elif running:
        p.refusal = (
            f"{', '.join(running)} is running under version {current.number} and version {target.number} "
            "defines it differently: migrate once it has resolved"
        )
    return p


def _apply(
    session: so.Session, wf: Workflow, p: MigrationPlan, target: TemplateVersion, actor: str, settings: OutboxSettings
) -> None:
    pending = dict(wf.pending_dependencies or {})
    for name in p.dependencies_rerun:
        pending.pop(name, None)
    wf.pending_dependencies = pending
    wf.template_version_id = target.id
    so.attributes.set_committed_value(wf, "version", target)
    record_event(
        session,
        wf,
        "migrated",
        actor,
        {"version": {"from": p.from_version, "to": p.to_version}, "dependencies_rerun": p.dependencies_rerun},
    )
    dependencies.bump(wf)
    for dep in dependencies.definitions(target):
        if dep["when"] == "on_start" and dep["name"] not in (wf.pending_dependencies or {}):
            dependencies._fire(session, wf, dep, actor, settings)
    dependencies.on_state_changed(session, wf, set(), actor, settings=settings)
    p.migrated = True


def _target(session, template: WorkflowTemplate, number: Any, path: str) -> TemplateVersion:
    version = None
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 2**31:
        version = session.scalar(
            sa.select(TemplateVersion).where(
                TemplateVersion.template_id == template.id, TemplateVersion.number == number
            )
        )
    if version is None:
        message = f"workflow template {template.name!r} has no version {number}"
        raise ValidationFailed(message, [{"path": path, "message": message}])
    return version


def migrate_workflow(
    session: so.Session,
    workflow_id: Any,
    to_version: Any,
    actor: str,
    *,
    settings: OutboxSettings,
    dry_run: bool = False,
) -> MigrationPlan:
    """Migrate one workflow (or only say what would happen). Refused: StateValidationError
    (invalid fields, each with its path) or Conflict (terminal, same version, a dependency in
    flight)."""
    wf = get_workflow(session, workflow_id, lock=not dry_run)
    template = session.get(WorkflowTemplate, wf.template_id)
    current = session.get(TemplateVersion, wf.template_version_id)
    assert template is not None and current is not None  # foreign keys of a stored workflow
    target = _target(session, template, to_version, "/version")
    p = plan(wf, current, target)
    if dry_run:
        return p
    if p.invalid and not WorkflowStatus(wf.status).is_terminal:
        raise StateValidationError(p.refusal or "", [{"path": e["path"], "message": e["message"]} for e in p.invalid])
    if p.refusal:
        raise Conflict(p.refusal)
    _apply(session, wf, p, target, actor, settings)
    return p


def migrate_workflows(
    session,
    template_ref: Any,
    from_version: Any,
    to_version: Any,
    actor: str,
    *,
    settings: OutboxSettings,
    workflow_ids: list[str] | None = None,
    dry_run: bool = False,
) -> list[MigrationPlan]:
    """Plan (and unless dry_run, migrate) workflows of a template from one version to another:
    the given ones, or every open workflow on `from_version` (at most MAX_BULK). Those that do
    not pass are reported and left as they are."""
    template = (
        template_ref if isinstance(template_ref, WorkflowTemplate) else get_workflow_template(session, template_ref)
    )
    source = _target(session, template, from_version, "/from_version")
    target = _target(session, template, to_version, "/to_version")
    if source.id == target.id:
        raise ValidationFailed(
            "from_version and to_version are the same", [{"path": "/to_version", "message": "pick another version"}]
        )
    q = sa.select(Workflow).where(Workflow.template_id == template.id, Workflow.template_version_id == source.id)
    wanted: list[uuid.UUID] = []
    if workflow_ids is not None:
        for raw in workflow_ids[:MAX_BULK]:
            try:
                wanted.append(parse_workflow_id(raw))
            except NotFound:
                raise ValidationFailed(
                    f"{raw!r} is not a workflow id",
                    [{"path": "/workflow_ids", "message": f"{raw!r} is not a workflow id"}],
                ) from None
        wanted = list(dict.fromkeys(wanted))
        q = q.where(Workflow.id.in_(wanted))
    else:
        q = q.where(Workflow.status.in_((WorkflowStatus.ACTIVE, WorkflowStatus.WAITING)))
    q = q.order_by(Workflow.started_at, Workflow.id).limit(MAX_BULK)
    if not dry_run:
        q = q.with_for_update()
    found = {wf.id: wf for wf in session.scalars(q)}
    plans = []
    for wid in wanted or list(found):
        wf = found.get(wid)
        if wf is None:
            plans.append(
                MigrationPlan(
                    wid, "", None, target.number, refusal=f"not a workflow of {template.name} version {source.number}"
                )
            )
            continue
        p = plan(wf, source, target)
        if p.ok and not dry_run:
            _apply(session, wf, p, target, actor, settings)
        plans.append(p)
    return plans
