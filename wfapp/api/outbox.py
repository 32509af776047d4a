"""Dependencies' callbacks and the outbox's jobs: /api/workflows/{id}/dependencies/{name},
/api/workflows/{id}/end-action/retry, /api/workflows/{id}/jobs, /api/jobs (incidents)."""

from typing import Any

from flask import current_app, g, jsonify, request

from wfapp.api import bp
from wfapp.api.auth import READ
from wfapp.api.openapi import LISTS, RESPONSE_SCHEMAS, TS, _list_of
from wfapp.api.operations import operation
from wfapp.api.serializers import iso, job_json
from wfapp.api.workflows import _workflow_response
from wfapp.errors import ValidationFailed
from wfapp.extensions import db
from wfapp.models import Job, JobKind, JobStatus, TokenRole
from wfapp.schemas.api import DEPENDENCY_DECISION, DEPENDENCY_OUTCOME
from wfapp.services import outbox, outbox_actions, privacy
from wfapp.services.outbox import OutboxSettings
from wfapp.services.staff import record_staff_action
from wfapp.services.workflow_lookup import get_workflow

TAG = "outbox"
OPERATE = frozenset({TokenRole.ADMIN, TokenRole.OPERATOR})

RESPONSE_SCHEMAS["Job"] = {
    "type": "object",
    "description": "One outbound call in the outbox; a `dead` job is an incident.",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": [k.value for k in JobKind]},
        "status": {"type": "string", "enum": [s.value for s in JobStatus]},
        "workflow_id": {"type": "string"},
        "type": {"type": "string"},
        "endpoint": {"type": ["string", "null"]},
        "dependency": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "max_attempts": {"type": "integer"},
        "next_attempt_at": TS,
        "locked_until": TS,
        "last_error": {"type": ["string", "null"]},
        "idempotency_key": {"type": "string"},
        "created_at": TS,
        "finished_at": TS,
    },
    "required": ["id", "kind", "status", "workflow_id", "attempts", "max_attempts"],
}
RESPONSE_SCHEMAS["CallbackReceipt"] = {
    "type": "object",
    "description": "What a callback resolved (no state_data: the called party sees only its own answer).",
    "properties": {
        "workflow_id": {"type": "string"},
        "dependency": {"type": "string"},
        "state": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
        "workflow_status": {"type": "string"},
    },
    "required": ["workflow_id", "dependency", "state", "workflow_status"],
}
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


@operation(
    bp,
    "/workflows/<workflow_id>/dependencies/<name>",
    "POST",
    summary="An operator resolves a pending dependency by hand, with a reason (recorded and audited)",
    roles=OPERATE,
    body=DEPENDENCY_DECISION,
    body_name="DependencyDecision",
    response="Workflow",
    errors=(404, 409),
    tag=TAG,
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


@operation(
    bp,
    "/callbacks/<credential>",
    "POST",
    summary="The called party reports its outcome after a 202, at the single-use address of its call (X-Wfapp-Callback)",
    roles=frozenset(),
    public=True,
    body=DEPENDENCY_OUTCOME,
    body_name="DependencyOutcome",
    response="CallbackReceipt",
    errors=(409,),
    tag=TAG,
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


@operation(
    bp,
    "/workflows/<workflow_id>/end-action/retry",
    "POST",
    summary="Re-arm the workflow's dead end action (same Idempotency-Key, a fresh budget of attempts)",
    roles=OPERATE,
    response="Job",
    status=202,
    errors=(404, 409),
    tag=TAG,
)
def retry_end_action(workflow_id):
    job = outbox_actions.retry_end_action(db.session, get_workflow(db.session, workflow_id).id, g.actor)
    db.session.commit()
    return jsonify(outbox_job_json(job)), 202


@operation(
    bp,
    "/jobs/<job_id>/retry",
    "POST",
    summary="Re-arm a dead job (an end action or a dependency call)",
    roles=OPERATE,
    response="Job",
    status=202,
    errors=(404, 409),
    tag=TAG,
)
def retry_job(job_id):
    job = outbox_actions.retry_job(db.session, job_id, g.actor)
    db.session.commit()
    return jsonify(outbox_job_json(job)), 202


@operation(
    bp,
    "/workflows/<workflow_id>/jobs",
    "GET",
    summary="The workflow's end action and dependency calls",
    roles=READ,
    response="JobList",
    errors=(404,),
    tag=TAG,
)
def list_workflow_jobs(workflow_id):
    wf = get_workflow(db.session, workflow_id)
    return jsonify(
        {
            "items": [outbox_job_json(j) for j in outbox.list_jobs(db.session, workflow_id=wf.id, limit=200)],
            "next_before": None,
        }
    )


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


@operation(
    bp,
    "/jobs",
    "GET",
    summary="Jobs of the outbox, newest first; status=dead lists the incidents",
    roles=READ,
    response="JobList",
    errors=(422,),
    query=JOB_QUERY,
    tag=TAG,
)
def list_jobs():
    status, kind = request.args.get("status") or None, request.args.get("kind") or None
    if status and status not in {s.value for s in JobStatus}:
        raise ValidationFailed(
            "status is not a job status",
            [{"path": "/query/status", "message": f"must be one of {', '.join(s.value for s in JobStatus)}"}],
        )
    if kind and kind not in {k.value for k in JobKind}:
        raise ValidationFailed(
            "kind is not a job kind",
            [{"path": "/query/kind", "message": f"must be one of {', '.join(k.value for k in JobKind)}"}],
        )
    limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 200)
    before = request.args.get("before", type=int)
    jobs = outbox.list_jobs(db.session, status=status, kind=kind, before_id=before, limit=limit + 1)
    next_before = jobs[limit - 1].id if len(jobs) > limit else None
    return jsonify({"items": [outbox_job_json(j) for j in jobs[:limit]], "next_before": next_before})
