"""Dependencies' callbacks and the outbox's jobs: /api/workflows/{id}/dependencies/{name},
/api/workflows/{id}/end-action/retry, /api/workflows/{id}/jobs, /api/jobs (incidents)."""

from enum import StrEnum
from typing import Any

from flask import current_app, g, jsonify, request

from wfapp.api import bp
from wfapp.api.openapi import LISTS, NULLABLE_STRING, RESPONSE_SCHEMAS, TS, _list_of, answer, typed
from wfapp.api.presets import OPERATE, WORKFLOW_ACTION, OperationPresets, items_response, limit_arg
from wfapp.api.serializers import iso, job_json
from wfapp.api.workflows import _workflow_response
from wfapp.errors import ValidationFailed
from wfapp.extensions import db
from wfapp.models import Job, JobKind, JobStatus
from wfapp.schemas.api import DEPENDENCY_DECISION, DEPENDENCY_OUTCOME
from wfapp.services import outbox, outbox_actions, privacy
from wfapp.services.outbox import OutboxSettings
from wfapp.services.staff import record_staff_action
from wfapp.services.workflow_lookup import get_workflow

ops = OperationPresets(bp, tag="outbox", writes=OPERATE)

RESPONSE_SCHEMAS["Job"] = answer(
    {
        **typed("integer", "id", "attempts", "max_attempts"),
        "kind": {"type": "string", "enum": [k.value for k in JobKind]},
        "status": {"type": "string", "enum": [s.value for s in JobStatus]},
        **typed("string", "workflow_id", "type", "idempotency_key"),
        **typed(NULLABLE_STRING, "endpoint", "dependency", "last_error"),
        **{name: TS for name in ("next_attempt_at", "locked_until", "created_at", "finished_at")},
    },
    "id",
    "kind",
    "status",
    "workflow_id",
    "attempts",
    "max_attempts",
    description="One outbound call in the outbox; a `dead` job is an incident.",
)
RESPONSE_SCHEMAS["CallbackReceipt"] = answer(
    {
        **typed("string", "workflow_id", "dependency", "workflow_status"),
        "state": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
    },
    "workflow_id",
    "dependency",
    "state",
    "workflow_status",
    description="What a callback resolved (no state_data: the called party sees only its own answer).",
)
LISTS["JobList"] = _list_of("Job", {"next_before": {"type": ["integer", "null"]}})


def outbox_job_json(job: Job) -> dict[str, Any]:
    """A job without its body (state_data stays in the workflow) and without header values."""
    payload = job.payload or {}
    target = payload.get("target") or {}
    return {
        **job_json(job),
        "workflow_id": str(job.workflow_id),
        "type": payload.get("type"),
        "endpoint": privacy.mask_job_endpoint(payload, g.get("api_role", "")),
        "template": target.get("template"),
        "dependency": payload.get("dependency"),
        "locked_until": iso(job.locked_until),
    }


@ops(
    "/workflows/<workflow_id>/dependencies/<name>",
    "POST",
    summary="An operator resolves a pending dependency by hand, with a reason (recorded and audited)",
    body=DEPENDENCY_DECISION,
    body_name="DependencyDecision",
    **WORKFLOW_ACTION,
)
def resolve_dependency(workflow_id, name, body):
    wf = outbox_actions.resolve_dependency(
        db.session,
        workflow_id,
        name,
        body["outcome"],
        g.actor,
        None,
        body.get("message", ""),
        settings=OutboxSettings.from_config(current_app.config),
        reason=body["reason"],
    )
    record_staff_action(
        db.session,
        g.actor,
        "dependency_resolved",
        "workflow",
        str(wf.id),
        {"dependency": name, "outcome": body["outcome"], "reason": body["reason"].strip()},
        request.remote_addr or "",
    )
    response = _workflow_response(wf)
    db.session.commit()
    return response


@ops(
    "/callbacks/<credential>",
    "POST",
    summary="The called party reports its outcome after a 202, at the single-use address of its call (X-Wfapp-Callback)",
    roles=frozenset(),
    public=True,
    body=DEPENDENCY_OUTCOME,
    body_name="DependencyOutcome",
    response="CallbackReceipt",
    errors=(409,),
)
def dependency_callback(credential, body):
    wf, name = outbox_actions.resolve_by_callback(
        db.session,
        credential,
        body["outcome"],
        body.get("result"),
        body.get("message", ""),
        settings=OutboxSettings.from_config(current_app.config),
    )
    receipt = {
        "workflow_id": str(wf.id),
        "dependency": name,
        "state": (wf.pending_dependencies or {}).get(name, {}).get("state"),
        "workflow_status": str(wf.status),
    }
    db.session.commit()
    return jsonify(receipt)


RETRY: dict[str, Any] = {"response": "Job", "status": 202, "errors": (409,)}


@ops(
    "/workflows/<workflow_id>/end-action/retry",
    "POST",
    summary="Re-arm the workflow's dead end action (same Idempotency-Key, a fresh budget of attempts)",
    **RETRY,
)
def retry_end_action(workflow_id):
    job = outbox_actions.retry_end_action(db.session, get_workflow(db.session, workflow_id).id, g.actor)
    db.session.commit()
    return jsonify(outbox_job_json(job)), 202


@ops("/jobs/<job_id>/retry", "POST", summary="Re-arm a dead job (an end action or a dependency call)", **RETRY)
def retry_job(job_id):
    job = outbox_actions.retry_job(db.session, job_id, g.actor)
    db.session.commit()
    return jsonify(outbox_job_json(job)), 202


@ops.read("/workflows/<workflow_id>/jobs", "The workflow's end action and dependency calls", "JobList")
def list_workflow_jobs(workflow_id):
    wf = get_workflow(db.session, workflow_id)
    return items_response(outbox.list_jobs(db.session, workflow_id=wf.id, limit=200), outbox_job_json, next_before=None)


JOB_QUERY = [
    {
        "name": "status",
        "schema": {"type": "string", "enum": [s.value for s in JobStatus]},
        "description": "dead = incidents",
    },
    {"name": "kind", "schema": {"type": "string", "enum": [k.value for k in JobKind]}},
    {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "before", "schema": {"type": "integer"}, "description": "next_before of the previous page"},
]


def _enum_arg(name: str, enum: type[StrEnum], what: str) -> str | None:
    value = request.args.get(name) or None
    if value and value not in {e.value for e in enum}:
        raise ValidationFailed(
            f"{name} is not {what}",
            [{"path": f"/query/{name}", "message": f"must be one of {', '.join(e.value for e in enum)}"}],
        )
    return value


@ops.read(
    "/jobs",
    "Jobs of the outbox, newest first; status=dead lists the incidents",
    "JobList",
    errors=(422,),
    query=JOB_QUERY,
)
def list_jobs():
    status, kind = _enum_arg("status", JobStatus, "a job status"), _enum_arg("kind", JobKind, "a job kind")
    limit = limit_arg(50, 200)
    before = request.args.get("before", type=int)
    jobs = outbox.list_jobs(db.session, status=status, kind=kind, before_id=before, limit=limit + 1)
    next_before = jobs[limit - 1].id if len(jobs) > limit else None
    return items_response(jobs[:limit], outbox_job_json, next_before=next_before)
