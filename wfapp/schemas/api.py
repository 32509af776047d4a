"""Request schemas of the REST API. The API validates bodies with these very objects and the
OpenAPI document (/api/openapi.json) publishes them."""

from wfapp.schemas.definitions import END_ACTION_TARGET, END_ACTION_TYPES, ESCALATION, SLUG, WORKFLOW_DEPENDENCIES
from wfapp.schemas.tools import DIALECTS


def string(max_length: int, min_length: int = 0, **extra) -> dict:
    """A string schema: {"type": "string", "minLength"?, "maxLength", ...extra}."""
    return {"type": "string", **({"minLength": min_length} if min_length else {}), "maxLength": max_length, **extra}


def body(properties: dict, required: tuple[str, ...] = (), description: str = "", **extra) -> dict:
    """A request body: an object of these properties and no others."""
    return {
        "type": "object",
        **({"description": description} if description else {}),
        "properties": properties,
        **({"required": list(required)} if required else {}),
        "additionalProperties": False,
        **extra,
    }


ID_STRING = string(200, 1)
USER_TYPE_ID = string(64, 1)
TEMPLATE_REF = string(100, 1, description="the workflow template's id or name")
NOTE = string(2000)
OUTCOME = {"type": "string", "enum": ["succeeded", "failed"]}


DEFINITION_PROPERTIES = {
    "description": {"type": "string", "maxLength": 10000},
    "category": {"type": "string", "maxLength": 100},
    "guidelines": {"type": "string", "maxLength": 100000},
    "state_schema": {
        "type": "object",
        "description": "compact form {field: {type, required, ...}} or a full JSON Schema object",
    },
    "workflow_dependencies": WORKFLOW_DEPENDENCIES,
    "end_action_type": {"type": "string", "enum": END_ACTION_TYPES},
    "end_action_target": END_ACTION_TARGET,
    "timers": {
        "type": ["object", "null"],
        "description": "remind_after, expire_after: ISO 8601 durations (PT30M) or seconds of idle time",
        "properties": {"remind_after": {"type": ["string", "number"]}, "expire_after": {"type": ["string", "number"]}},
        "additionalProperties": False,
    },
    "ask_optional": {
        "type": "boolean",
        "description": "the LLM asks for optional fields too (default true); false: only for required ones",
    },
    "escalation": ESCALATION,
    "is_active": {"type": "boolean"},
    "change_note": NOTE,
}

WORKFLOW_TEMPLATE_CREATE = body({"name": SLUG, **DEFINITION_PROPERTIES}, ("name", "state_schema"))
WORKFLOW_TEMPLATE_UPDATE = body({"name": SLUG, **DEFINITION_PROPERTIES})
WORKFLOW_TEMPLATE_PATCH = body({"is_active": {"type": "boolean"}, "category": string(100)}, minProperties=1)
USER_TYPE_CREATE = body({"id": {**SLUG, "maxLength": 64}, "name": string(200), "description": NOTE}, ("id",))
USER_TYPE_UPDATE = body({"name": string(200, 1), "description": NOTE})
END_USER_CREATE = body(
    {"id": ID_STRING, "user_type_id": USER_TYPE_ID, "display_name": string(200)}, ("id", "user_type_id")
)
END_USER_UPDATE = body({"user_type_id": USER_TYPE_ID, "display_name": string(200)})
PERMISSION_CREATE = body(
    {"user_type_id": USER_TYPE_ID, "workflow_template_id": TEMPLATE_REF}, ("user_type_id", "workflow_template_id")
)
WORKFLOW_START = body(
    {
        "template_id": TEMPLATE_REF,
        "conversation_id": ID_STRING,
        "user_id": ID_STRING,
        "state_data": {"type": "object", "description": "initial data, validated field by field"},
    },
    ("template_id", "conversation_id", "user_id"),
)
WORKFLOW_UPDATE = body(
    {
        "state_data": {
            "type": "object",
            "description": "a JSON Merge Patch (RFC 7396) of state_data: null removes a key",
        },
        "status": {"type": "string", "enum": ["active", "waiting", "completed", "cancelled", "failed"]},
        "reason": NOTE,
    },
    minProperties=1,
)

TOOL_CALL = body(
    {
        "arguments": {
            "type": ["string", "object"],
            "description": "the tool call's arguments as the LLM SDK hands them over: a JSON string or an object",
        },
        "dialect": {
            "type": "string",
            "enum": list(DIALECTS),
            "description": "the dialect of the tool the LLM called (decides what a null means)",
        },
    },
    ("arguments",),
)
FIELD_DECLINE = body({"field": string(200, 1), "reason": NOTE}, ("field",))
HANDOFF_REQUEST = body({"reason": string(2000, 1)}, ("reason",))

_POINTER = {"type": "string", "pattern": "^(/.*)?$", "description": "a JSON Pointer (RFC 6901) into state_data"}
WORKFLOW_JSON_PATCH = {
    "type": "array",
    "description": "a JSON Patch (RFC 6902) of state_data: null is stored where the field's schema admits it",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": _POINTER,
            "from": _POINTER,
            "value": {},
        },
        "required": ["op", "path"],
        "allOf": [
            {"if": {"properties": {"op": {"enum": ["add", "replace", "test"]}}}, "then": {"required": ["value"]}},
            {"if": {"properties": {"op": {"enum": ["move", "copy"]}}}, "then": {"required": ["from"]}},
        ],
    },
    "maxItems": 1000,
}

DEPENDENCY_OUTCOME = body(
    {"outcome": OUTCOME, "result": {}, "message": NOTE},
    ("outcome",),
    "The called party's outcome, posted to the callback address of its call (X-Wfapp-Callback).",
)
DEPENDENCY_DECISION = body(
    {"outcome": OUTCOME, "reason": string(2000, 1, pattern="\\S"), "message": NOTE},
    ("outcome", "reason"),
    "An operator's decision on a pending dependency; the reason is recorded with it.",
)

# Version migration (services.migration): one workflow, or many of a template.
VERSION_NUMBER = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
WORKFLOW_MIGRATE = body(
    {
        "version": VERSION_NUMBER,
        "dry_run": {"type": "boolean", "default": False, "description": "only say what would happen"},
    },
    ("version",),
)
TEMPLATE_MIGRATE = body(
    {
        "from_version": VERSION_NUMBER,
        "to_version": VERSION_NUMBER,
        "workflow_ids": {
            "type": "array",
            "items": {"type": "string", "maxLength": 64},
            "maxItems": 1000,
            "description": "these workflows only (default: every open workflow on from_version)",
        },
        "dry_run": {"type": "boolean", "default": False},
    },
    ("from_version", "to_version"),
)

REQUEST_SCHEMAS = {
    "WorkflowTemplateCreate": WORKFLOW_TEMPLATE_CREATE,
    "WorkflowTemplateUpdate": WORKFLOW_TEMPLATE_UPDATE,
    "WorkflowTemplatePatch": WORKFLOW_TEMPLATE_PATCH,
    "UserTypeCreate": USER_TYPE_CREATE,
    "UserTypeUpdate": USER_TYPE_UPDATE,
    "EndUserCreate": END_USER_CREATE,
    "EndUserUpdate": END_USER_UPDATE,
    "PermissionCreate": PERMISSION_CREATE,
    "WorkflowStart": WORKFLOW_START,
    "WorkflowUpdate": WORKFLOW_UPDATE,
    "WorkflowJsonPatch": WORKFLOW_JSON_PATCH,
    "DependencyOutcome": DEPENDENCY_OUTCOME,
    "DependencyDecision": DEPENDENCY_DECISION,
    "ToolCall": TOOL_CALL,
    "FieldDecline": FIELD_DECLINE,
    "HandoffRequest": HANDOFF_REQUEST,
    "WorkflowMigrate": WORKFLOW_MIGRATE,
    "TemplateMigrate": TEMPLATE_MIGRATE,
}
