from wfapp.models.directory import EndUser, Permission, UserType
from wfapp.models.events import EventSubscription, PublicEvent, Timer
from wfapp.models.jobs import Job, JobKind, JobStatus
from wfapp.models.saved_views import SavedView
from wfapp.models.sessions import StaffSession
from wfapp.models.staff import ApiToken, AuditEntry, StaffRole, StaffUser, TokenRole
from wfapp.models.workflow_templates import TemplateVersion, WorkflowTemplate
from wfapp.models.workflows import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Workflow,
    WorkflowEvent,
    WorkflowStatus,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "EndUser",
    "EventSubscription",
    "Job",
    "JobKind",
    "JobStatus",
    "OPEN_STATUSES",
    "Permission",
    "PublicEvent",
    "SavedView",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "TERMINAL_STATUSES",
    "TemplateVersion",
    "Timer",
    "TokenRole",
    "UserType",
    "Workflow",
    "WorkflowEvent",
    "WorkflowStatus",
    "WorkflowTemplate",
]
