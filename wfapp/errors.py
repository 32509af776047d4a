"""Domain errors. Each knows the HTTP status and title that the API maps it to (one place:
wfapp.api.errors); the dashboard shows the same messages beside its fields. A subclass declares
them in its header: `class NotFound(Problem, status=404, title="Not found"): ...`; a status left
out is its base's."""

from typing import Any


class Problem(Exception):
    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init_subclass__(cls, status: int | None = None, title: str | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if title is not None:
            cls.title = title

    def __init__(self, detail: str = "", errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = [{"path": e["path"], "message": e["message"]} for e in (errors or [])]
        self.extra = extra


class NotFound(Problem, status=404, title="Not found"): ...


class WorkflowNotFound(NotFound, title="Workflow not found"): ...


class WorkflowTemplateNotFound(NotFound, title="Workflow template not found"): ...


class PermissionDenied(Problem, status=403, title="Forbidden"): ...


class Conflict(Problem, status=409, title="Conflict"): ...


class InvalidTransition(Conflict, title="Invalid status change"): ...


class DependencyPending(Conflict, title="A dependency is pending"): ...


class PreconditionFailed(Problem, status=412, title="Precondition failed"): ...


class ValidationFailed(Problem, status=422, title="Validation failed"):
    """Well-formed input that breaks a rule (422), one entry per offending field."""


class StateValidationError(ValidationFailed, title="state_data does not match the workflow template's schema"): ...


class SchemaError(ValidationFailed, title="Invalid state_schema"):
    def __init__(self, errors: list[dict[str, Any]], detail: str = ""):
        super().__init__(detail or "; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)
