"""/api/workflows/{id}/migrate and /api/workflow-templates/{id-or-name}/migrate: move live
workflows to another version of their template (services.migration), or only plan it."""

from flask import current_app, g, jsonify

from wfapp.api import bp
from wfapp.api.presets import OPERATE, OperationPresets
from wfapp.extensions import db
from wfapp.schemas.api import TEMPLATE_MIGRATE, WORKFLOW_MIGRATE
from wfapp.services import migration
from wfapp.services.outbox import OutboxSettings

ops = OperationPresets(bp, tag="workflows", writes=OPERATE)


def _settings() -> OutboxSettings:
    return OutboxSettings.from_config(current_app.config)


def _answer(answer, dry_run: bool):
    """A migration's answer; a dry run changes nothing (rolled back), a migration is committed."""
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return jsonify(answer)


@ops(
    "/workflows/<workflow_id>/migrate",
    "POST",
    summary="Move a workflow to another version of its template (dry_run: only say what would happen)",
    body=WORKFLOW_MIGRATE,
    body_name="WorkflowMigrate",
    response="MigrationPlan",
    errors=(404, 409),
)
def migrate_workflow(workflow_id, body):
    dry_run = bool(body.get("dry_run", False))
    plan = migration.migrate_workflow(
        db.session, workflow_id, body["version"], g.actor, settings=_settings(), dry_run=dry_run
    )
    return _answer(plan.as_json(), dry_run)


@ops(
    "/workflow-templates/<ref>/migrate",
    "POST",
    summary="Move workflows of a template from one version to another; those that do not pass stay",
    body=TEMPLATE_MIGRATE,
    body_name="TemplateMigrate",
    response="MigrationResult",
    errors=(404,),
)
def migrate_template_workflows(ref, body):
    dry_run = bool(body.get("dry_run", False))
    plans = migration.migrate_workflows(
        db.session,
        ref,
        body["from_version"],
        body["to_version"],
        g.actor,
        settings=_settings(),
        workflow_ids=body.get("workflow_ids"),
        dry_run=dry_run,
    )
    migrated, refused = sum(1 for p in plans if p.migrated), sum(1 for p in plans if not p.ok)
    return _answer(
        {"items": [p.as_json() for p in plans], "migrated": migrated, "refused": refused, "dry_run": dry_run}, dry_run
    )
