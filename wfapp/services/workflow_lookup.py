"""Looking up a workflow, and locking it for the rest of the transaction (SQLite: the one
writer; PostgreSQL: FOR UPDATE). The lifecycle, dependencies and the outbox all start here."""

import functools
import uuid
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import WorkflowNotFound
from wfapp.models import TemplateVersion, Workflow, WorkflowStatus, WorkflowTemplate
from wfapp.schemas.state_schema import CompiledSchema, compiled_for_version


def parse_workflow_id(workflow_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(workflow_id, uuid.UUID):
        return workflow_id
    try:
        return uuid.UUID(str(workflow_id))
    except ValueError:
        raise WorkflowNotFound(f"no workflow {workflow_id!r}") from None


def get_workflow(session: so.Session, workflow_id: str | uuid.UUID, *, lock: bool = False) -> Workflow:
    """The workflow; with lock=True, locked for the rest of the transaction and re-read."""
    wid = parse_workflow_id(workflow_id)
    if lock:
        wf = session.scalar(
            sa.select(Workflow).where(Workflow.id == wid).with_for_update().execution_options(populate_existing=True)
        )
    else:
        wf = session.get(Workflow, wid)
    if wf is None:
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return wf


def lock_with_definition(
    session: so.Session, workflow_id: str | uuid.UUID
) -> tuple[Workflow, TemplateVersion, WorkflowTemplate]:
    """The workflow locked for the rest of the transaction and re-read, with its version and
    workflow template, in one statement (PostgreSQL locks the workflow's row only). Both are
    kept on the workflow (its `version` and `template`), so that later look-ups of them in this
    session (dependencies, the outbox, the response) come from the identity map, not the
    database."""
    wf, _ = lock_workflow(session, workflow_id)
    return wf, wf.version, wf.template


@functools.cache  # built once: the statement of every write to a workflow (its cache key too)
def _lock_statement(with_waiting_siblings: bool) -> sa.Select:
    siblings: Any = sa.literal(False)
    if with_waiting_siblings:
        other = so.aliased(Workflow)
        siblings = (
            sa.select(other.id)
            .where(other.user_id == Workflow.user_id, other.id != Workflow.id, other.status == WorkflowStatus.WAITING)
            .exists()
        )
    return (
        sa.select(Workflow, siblings)
        .join(Workflow.version)
        .join(Workflow.template)
        .where(Workflow.id == sa.bindparam("workflow_id", type_=sa.Uuid))
        .options(
            so.contains_eager(Workflow.version),
            so.contains_eager(Workflow.template).lazyload(WorkflowTemplate.current_version),
        )
        .with_for_update(of=Workflow)
        .execution_options(populate_existing=True)
    )


def lock_workflow(
    session: so.Session, workflow_id: str | uuid.UUID, *, with_waiting_siblings: bool = False
) -> tuple[Workflow, bool]:
    """lock_with_definition's statement; with_waiting_siblings also tells, in the same
    statement, whether the same end user has other workflows waiting (on this one, maybe)."""
    wid = parse_workflow_id(workflow_id)
    row = session.execute(_lock_statement(with_waiting_siblings), {"workflow_id": wid}).first()
    if row is None:
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return row[0], bool(row[1])


def loaded(wf: Workflow, name: str) -> Any:
    """A relationship of the workflow when it is loaded already (else None: they are lazy="raise")."""
    return sa.inspect(wf).dict.get(name)


def version_of(session: so.Session, wf: Workflow) -> TemplateVersion:
    version = loaded(wf, "version") or session.get(TemplateVersion, wf.template_version_id)
    assert version is not None  # a foreign key
    return version


def template_of(session: so.Session, wf: Workflow) -> WorkflowTemplate:
    template = loaded(wf, "template") or session.get(WorkflowTemplate, wf.template_id)
    assert template is not None  # a foreign key
    return template


def schema_of(session: so.Session, wf: Workflow) -> CompiledSchema:
    return compiled_for_version(version_of(session, wf))
