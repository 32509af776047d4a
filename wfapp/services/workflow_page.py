"""What the dashboard's workflow page shows: the workflow's row, its state_data as the viewer may
see it, the checklist of required fields, the end action (preview, jobs, attempts, bodies sent),
the dependency jobs, and the timeline's steps; sensitive values are masked for roles that may not
see them, and showing them to one that may is audited."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import sqlalchemy.orm as so

from wfapp.models import EndUser, Job, JobStatus, TemplateVersion, Workflow, WorkflowTemplate
from wfapp.schemas.state_schema import CompiledSchema, Field, compiled_for_version
from wfapp.services import monitor, privacy
from wfapp.services.field_errors import errors_by_field
from wfapp.services.outbox import end_action_body
from wfapp.services.timeline import Step, build_timeline, clamp_step
from wfapp.services.workflow_lookup import version_of
from wfapp.services.workflow_queries import workflow_row

# A full view of the page records every reveal of sensitive values; its polls and fragments
# record one only when this actor was not shown the same fields of the workflow within this time.
REVEAL_REPEAT_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class Viewer:
    """Who looks at the page: their role decides what is masked, the rest goes into the audit."""

    role: str
    actor: str
    remote_addr: str = ""


@dataclass
class WorkflowPage:
    wf: Workflow
    row: Any
    version: TemplateVersion
    fields: list[Field]
    state: dict[str, Any]
    checklist: list[tuple[Field, bool, list[str]]]
    end_jobs: list[Job]
    dep_jobs: list[Job]
    attempts: dict[Any, list]
    end_action_preview: dict[str, Any] | None
    sent_bodies: dict[Any, Any]
    pending: Any
    waiting_for: Any
    end_user: EndUser | None
    mask: bool
    token: str | None
    polling: bool
    dead_end_action: bool
    reveal: Reveal | None

    def context(self) -> dict[str, Any]:
        """The page's values by name (what the templates read)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class WorkflowSteps:
    wf: Workflow
    steps: list[Step]
    current: int
    step: Step | None
    fields: list[Field]
    extra_keys: list[str]

    def context(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Reveal:
    """Sensitive values a page showed a staff user: what record_reveal writes into the audit log
    (field names only). `repeat_after` None: always recorded (a full view of the page); else not
    when the same reveal was recorded less than that long ago (its polls and fragments)."""

    workflow_id: Any
    actor: str
    remote_addr: str
    fields: tuple[str, ...]
    repeat_after: timedelta | None
    where: str = "workflow detail"


def shown_state(wf: Workflow, compiled: CompiledSchema, viewer: Viewer) -> dict[str, Any]:
    """state_data as the viewer may see it (sensitive values masked for viewers)."""
    return privacy.mask_state(wf.state_data, compiled, viewer.role)


def pending_reveal(wf: Workflow, compiled: CompiledSchema, viewer: Viewer, reveal: str | None) -> Reveal | None:
    """What showing this workflow's state_data to the viewer reveals, to be audited. `reveal`
    names the view: "page" (a full view of the page: always recorded) or "fragment" (a poll or
    panel of that page: recorded only when not recorded lately); None (the answers to an
    operator's own actions) and views that reveal nothing give None."""
    if reveal is None or not privacy.may_reveal(viewer.role):
        return None
    fields = privacy.sensitive_present(wf.state_data, compiled)
    if not fields:
        return None
    return Reveal(
        workflow_id=wf.id,
        actor=viewer.actor,
        remote_addr=viewer.remote_addr,
        fields=tuple(sorted(fields)),
        repeat_after=None if reveal == "page" else REVEAL_REPEAT_AFTER,
    )


def workflow_reveal(session: so.Session, wf: Workflow, viewer: Viewer, reveal: str | None) -> Reveal | None:
    """pending_reveal for a workflow whose schema the caller has not compiled."""
    return pending_reveal(wf, compiled_for_version(version_of(session, wf)), viewer, reveal)


def record_reveal(session: so.Session, reveal: Reveal | None) -> bool:
    """Write a reveal into the audit log (unless recorded lately, for a fragment's). The caller
    commits; the dashboard does so in a short transaction of its own, so that a page is shown
    even when its audit row cannot be written at that moment. True when a row was added."""
    if reveal is None:
        return False
    if reveal.repeat_after is not None and privacy.revealed_recently(
        session, reveal.actor, reveal.workflow_id, reveal.fields, reveal.repeat_after
    ):
        return False
    privacy.record_reveal(
        session, reveal.actor, reveal.workflow_id, reveal.fields, reveal.remote_addr, where=reveal.where
    )
    return True


def keeps_polling(session: so.Session, wf: Workflow) -> bool:
    """Open workflows are watched; a terminal one only while its end action is on its way."""
    return not wf.is_terminal or monitor.has_open_jobs(session, wf.id)


def workflow_page(session: so.Session, wf: Workflow, viewer: Viewer, reveal: str | None = None) -> WorkflowPage:
    row = workflow_row(session, wf)
    version = version_of(session, wf)
    compiled = compiled_for_version(version)
    role = viewer.role
    state = shown_state(wf, compiled, viewer)
    complete_errors = errors_by_field(
        privacy.mask_errors(compiled.validate_complete(wf.state_data or {}), compiled, role)
    )
    checklist = [
        (f, f.key in state and state[f.key] not in (None, "", []), complete_errors.get(f.key, []))
        for f in compiled.fields
        if f.required
    ]
    end_jobs = monitor.end_action_jobs(session, wf.id)
    events: dict[Any, list] = {}
    for e in monitor.job_events(session, wf.id):
        events.setdefault((e.data or {}).get("job_id"), []).append(e)
    dep_jobs = monitor.dependency_jobs(session, wf.id)
    template = session.get(WorkflowTemplate, wf.template_id)
    preview = None
    if template is not None and version.end_action_type not in (None, "", "none"):
        preview = {
            "type": version.end_action_type,
            "target": version.end_action_target,
            "body": privacy.mask_request_body(end_action_body(wf, template.name, version), compiled, role),
        }
    attempts = {
        job_id: [(e, privacy.mask_event_data(e.data, compiled, role)) for e in job_events]
        for job_id, job_events in events.items()
    }
    return WorkflowPage(
        wf=wf,
        row=row,
        version=version,
        fields=compiled.fields,
        state=state,
        checklist=checklist,
        end_jobs=end_jobs,
        dep_jobs=dep_jobs,
        attempts=attempts,
        end_action_preview=preview,
        sent_bodies={j.id: privacy.mask_request_body(j.payload.get("body"), compiled, role) for j in end_jobs},
        pending=privacy.mask_pending(wf.pending_dependencies, role),
        waiting_for=privacy.mask_waiting_for(wf.waiting_for, wf.pending_dependencies, role),
        end_user=session.get(EndUser, wf.user_id),
        mask=not privacy.may_reveal(role),
        token=monitor.workflow_token(session, wf.id),
        polling=keeps_polling(session, wf),
        dead_end_action=any(j.status == JobStatus.DEAD for j in end_jobs),
        reveal=pending_reveal(wf, compiled, viewer, reveal),
    )


def workflow_steps(session: so.Session, wf: Workflow, role: str, requested: int | None) -> WorkflowSteps:
    """The timeline's steps (values masked for the role) and the one to show (the last by default)."""
    version = version_of(session, wf)
    compiled = compiled_for_version(version)
    steps = privacy.mask_steps(build_timeline(session, wf), compiled, role)
    current = clamp_step(steps, requested)
    keys = [f.key for f in compiled.fields]
    extra = sorted({k for s in steps for k in s.state} - set(keys)) if steps else []
    return WorkflowSteps(
        wf=wf,
        steps=steps,
        current=current,
        step=steps[current - 1] if steps else None,
        fields=compiled.fields,
        extra_keys=extra,
    )


def history_document(session: so.Session, wf: Workflow, viewer: Viewer) -> tuple[dict[str, Any], Reveal | None]:
    """A workflow's whole history as a JSON document (the evidence the timeline shows: every
    event with its actor and time, and state_data after it), masked for the viewer like the
    page, and the reveal a download is (always recorded, like a full view of the page)."""
    version = version_of(session, wf)
    compiled = compiled_for_version(version)
    steps = privacy.mask_steps(build_timeline(session, wf), compiled, viewer.role)
    row = workflow_row(session, wf)
    document = {
        "workflow_id": str(wf.id),
        "template": row.template_name,
        "template_version": row.version_number,
        "user_id": wf.user_id,
        "conversation_id": wf.conversation_id,
        "status": str(wf.status),
        "started_at": wf.started_at.isoformat() if wf.started_at else None,
        "completed_at": wf.completed_at.isoformat() if wf.completed_at else None,
        "masked": not privacy.may_reveal(viewer.role),
        "events": [
            {
                "step": s.number,
                "seq": s.event.seq,
                "type": s.event.type,
                "actor": s.event.actor,
                "created_at": s.event.created_at.isoformat() if s.event.created_at else None,
                "data": s.data,
                "status_after": s.status,
                "state_after": s.state,
            }
            for s in steps
        ],
    }
    reveal = None
    if privacy.may_reveal(viewer.role):
        shown = sorted({k for s in steps for k in privacy.sensitive_present(s.state, compiled)})
        if shown:
            reveal = Reveal(wf.id, viewer.actor, viewer.remote_addr, tuple(shown), None, where="history download")
    return document, reveal
