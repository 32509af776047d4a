"""Request schemas of the REST API. The API validates bodies with these very objects and the
OpenAPI document (/api/openapi.json) publishes them."""

from typing import Any

from wfapp.schemas.definitions import END_ACTION_TARGET, END_ACTION_TYPES, SLUG, WORKFLOW_DEPENDENCIES


def text(max_length: int, min_length: int = 0, **keywords: Any) -> dict[str, Any]:
    """A string of at most max_length characters (and at least min_length)."""
    return {"type": "string", **({"minLength": min_length} if min_length else {}), "maxLength": max_length, **keywords}


def object_schema(properties: dict[str, Any], *required: str, closed: bool = True, **keywords: Any) -> dict[str, Any]:
    """An object with these properties, the `required` ones present; `closed`: no others allowed."""
    schema: dict[str, Any] = {"type": "object", **keywords, "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


ID_STRING = text(200, 1)
TYPE_ID = text(64, 1)
TEMPLATE_REF = text(100, 1, description="the workflow template's id or name")
OUTCOME = {"type": "string", "enum": ["succeeded", "failed"]}

DEFINITION_PROPERTIES = {
    "description": text(10000),
    "category": text(100),
    "guidelines": text(100000),
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
    "is_active": {"type": "boolean"},
    "change_note": text(2000),
}

WORKFLOW_TEMPLATE_CREATE = object_schema({"name": SLUG, **DEFINITION_PROPERTIES}, "name", "state_schema")
WORKFLOW_TEMPLATE_UPDATE = object_schema({"name": SLUG, **DEFINITION_PROPERTIES})
WORKFLOW_TEMPLATE_PATCH = object_schema({"is_active": {"type": "boolean"}, "category": text(100)}, minProperties=1)

USER_TYPE_CREATE = object_schema({"id": {**SLUG, "maxLength": 64}, "name": text(200), "description": text(2000)}, "id")
USER_TYPE_UPDATE = object_schema({"name": text(200, 1), "description": text(2000)})

END_USER_CREATE = object_schema(
    {"id": ID_STRING, "user_type_id": TYPE_ID, "display_name": text(200)}, "id", "user_type_id"
)
END_USER_UPDATE = object_schema({"user_type_id": TYPE_ID, "display_name": text(200)})

PERMISSION_CREATE = object_schema(
    {"user_type_id": TYPE_ID, "workflow_template_id": TEMPLATE_REF}, "user_type_id", "workflow_template_id"
)

WORKFLOW_START = object_schema(
    {
        "template_id": TEMPLATE_REF,
        "conversation_id": ID_STRING,
        "user_id": ID_STRING,
        "state_data": {"type": "object", "description": "initial data, validated field by field"},
    },
    "template_id",
    "conversation_id",
    "user_id",
)

WORKFLOW_UPDATE = object_schema(
    {
        "state_data": {
            "type": "object",
            "description": "a JSON Merge Patch (RFC 7396) of state_data: null removes a key",
        },
        "status": {"type": "string", "enum": ["active", "waiting", "completed", "cancelled", "failed"]},
        "reason": text(2000),
    },
    minProperties=1,
)

DEPENDENCY_OUTCOME = object_schema(
    {"outcome": OUTCOME, "result": {}, "message": text(2000)},
    "outcome",
    description="The called party's outcome, posted to the callback address of its call (X-Wfapp-Callback).",
)

DEPENDENCY_DECISION = object_schema(
    {"outcome": OUTCOME, "reason": text(2000, 1, pattern="\\S"), "message": text(2000)},
    "outcome",
    "reason",
    description="An operator's decision on a pending dependency; the reason is recorded with it.",
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
    "DependencyOutcome": DEPENDENCY_OUTCOME,
    "DependencyDecision": DEPENDENCY_DECISION,
}
