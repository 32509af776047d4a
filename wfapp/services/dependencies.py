"""Dependencies of a workflow (DESIGN.md "Dependencies"): what it waits on before it may go on.

The workflow service calls these hooks inside its transaction, under the workflow's row lock."""

from typing import Any

from wfapp.models import TemplateVersion, Workflow


def pending(wf: Workflow) -> list[str]:
    """Names of the dependencies that still block the workflow."""
    return [name for name, dep in (wf.pending_dependencies or {}).items() if dep.get("state") == "pending"]


def on_start(session, wf: Workflow, version: TemplateVersion, actor: str) -> None:
    """Fire the version's on_start dependencies."""


def on_state_changed(session, wf: Workflow, changed: set[str], actor: str) -> None:
    """Fire dependencies whose `when.fields` are now all filled."""


def before_complete(session, wf: Workflow, version: TemplateVersion, actor: str) -> None:
    """Fire before_complete dependencies not yet satisfied."""


def on_workflow_completed(session, wf: Workflow, actor: str) -> None:
    """Resume workflows of the same end user that wait on this workflow's template."""


__all__ = ["before_complete", "on_start", "on_state_changed", "on_workflow_completed", "pending"]
