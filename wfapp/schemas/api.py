"""Request schemas of the REST API. The API validates bodies with these very objects and the
OpenAPI document (/api/openapi.json) publishes them."""

from wfapp.schemas.definitions import END_ACTION_TARGET, END_ACTION_TYPES, ESCALATION, SLUG, WORKFLOW_DEPENDENCIES
from wfapp.schemas.tools import DIALECTS

ID_STRING = {"type": "string", "minLength": 1, "maxLength": 200}

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
    "change_note": {"type": "string", "maxLength": 2000},
}

WORKFLOW_TEMPLATE_CREATE = {
    "type": "object",
    "properties": {"name": SLUG, **DEFINITION_PROPERTIES},
    "required": ["name", "state_schema"],
    "additionalProperties": False,
}

WORKFLOW_TEMPLATE_UPDATE = {
    "type": "object",
    "properties": {"name": SLUG, **DEFINITION_PROPERTIES},
    "additionalProperties": False,
}

WORKFLOW_TEMPLATE_PATCH = {
    "type": "object",
    "properties": {"is_active": {"type": "boolean"}, "category": {"type": "string", "maxLength": 100}},
    "additionalProperties": False,
    "minProperties": 1,
}

USER_TYPE_CREATE = {
    "type": "object",
    "properties": {
        "id": {**SLUG, "maxLength": 64},
        "name": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 2000},
    },
    "required": ["id"],
    "additionalProperties": False,
}

USER_TYPE_UPDATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 2000},
    },
    "additionalProperties": False,
}

END_USER_CREATE = {
    "type": "object",
    "properties": {
        "id": ID_STRING,
        "user_type_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "display_name": {"type": "string", "maxLength": 200},
    },
    "required": ["id", "user_type_id"],
    "additionalProperties": False,
}

END_USER_UPDATE = {
    "type": "object",
    "properties": {
        "user_type_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "display_name": {"type": "string", "maxLength": 200},
    },
    "additionalProperties": False,
}

PERMISSION_CREATE = {
    "type": "object",
    "properties": {
        "user_type_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "workflow_template_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "the workflow template's id or name",
        },
    },
    "required": ["user_type_id", "workflow_template_id"],
    "additionalProperties": False,
}

WORKFLOW_START = {
    "type": "object",
    "properties": {
        "template_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "the workflow template's id or name",
        },
        "conversation_id": ID_STRING,
        "user_id": ID_STRING,
        "state_data": {"type": "object", "description": "initial data, validated field by field"},
    },
    "required": ["template_id", "conversation_id", "user_id"],
    "additionalProperties": False,
}

WORKFLOW_UPDATE = {
    "type": "object",
    "properties": {
        "state_data": {
            "type": "object",
            "description": "a JSON Merge Patch (RFC 7396) of state_data: null removes a key",
        },
        "status": {"type": "string", "enum": ["active", "waiting", "completed", "cancelled", "failed"]},
        "reason": {"type": "string", "maxLength": 2000},
    },
    "additionalProperties": False,
    "minProperties": 1,
}

TOOL_CALL = {
    "type": "object",
    "properties": {
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
    "required": ["arguments"],
    "additionalProperties": False,
}

FIELD_DECLINE = {
    "type": "object",
    "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 200},
        "reason": {"type": "string", "maxLength": 2000},
    },
    "required": ["field"],
    "additionalProperties": False,
}

HANDOFF_REQUEST = {
    "type": "object",
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
    "required": ["reason"],
    "additionalProperties": False,
}

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

DEPENDENCY_OUTCOME = {
    "type": "object",
    "description": "The called party's outcome, posted to the callback address of its call (X-Wfapp-Callback).",
    "properties": {
        "outcome": {"type": "string", "enum": ["succeeded", "failed"]},
        "result": {},
        "message": {"type": "string", "maxLength": 2000},
    },
    "required": ["outcome"],
    "additionalProperties": False,
}

DEPENDENCY_DECISION = {
    "type": "object",
    "description": "An operator's decision on a pending dependency; the reason is recorded with it.",
    "properties": {
        "outcome": {"type": "string", "enum": ["succeeded", "failed"]},
        "reason": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "\\S"},
        "message": {"type": "string", "maxLength": 2000},
    },
    "required": ["outcome", "reason"],
    "additionalProperties": False,
}

# Version migration (services.migration): one workflow, or many of a template.
VERSION_NUMBER = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
WORKFLOW_MIGRATE = {
    "type": "object",
    "properties": {
        "version": VERSION_NUMBER,
        "dry_run": {"type": "boolean", "default": False, "description": "only say what would happen"},
    },
    "required": ["version"],
    "additionalProperties": False,
}
TEMPLATE_MIGRATE = {
    "type": "object",
    "properties": {
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
    "required": ["from_version", "to_version"],
    "additionalProperties": False,
}

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
