"""JSON Schemas of a template version's dependencies and end action. The API validates request
bodies with them, the OpenAPI document publishes them, and the dashboard's editors check with them."""

import json
import re
from typing import Any

SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "minLength": 1, "maxLength": 100}
HTTP_METHOD = {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}
HEADERS = {
    "type": "object",
    "additionalProperties": {"type": "string", "maxLength": 4000},
    "maxProperties": 50,
}
TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 120}
ENDPOINT = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "^https?://[^\\s/]+"}

API_CALL = {
    "type": "object",
    "properties": {
        "endpoint": ENDPOINT,
        "method": HTTP_METHOD,
        "headers": HEADERS,
        "body": {},
        "timeout_s": TIMEOUT,
    },
    "required": ["endpoint"],
    "additionalProperties": False,
}

# What repeated refused writes of one field lead to (a field's own escalate_after overrides after).
ESCALATION = {
    "type": ["object", "null"],
    "properties": {
        "after": {"type": "integer", "minimum": 1, "maximum": 100},
        "action": {"type": "string", "enum": ["skip", "handoff"]},
    },
    "required": ["after"],
    "additionalProperties": False,
    "description": 'after N refused writes of the same field: "skip" it (an optional one is recorded as '
    'declined; a required one cannot be skipped and is handed to an operator) or "handoff" to an operator',
}

ON_FAILURE = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["fail", "retry", "wait", "continue"]},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 50},
        "message": {"type": "string", "maxLength": 2000},
    },
    "additionalProperties": False,
}

WHEN = {
    "oneOf": [
        {"type": "string", "enum": ["on_start", "before_complete"]},
        {
            "type": "object",
            "properties": {
                "fields": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True}
            },
            "required": ["fields"],
            "additionalProperties": False,
        },
    ]
}

DEPENDENCY = {
    "type": "object",
    "properties": {
        "name": SLUG,
        "type": {"type": "string", "enum": ["api", "workflow"]},
        "when": WHEN,
        "api": API_CALL,
        "template": {"type": "string", "minLength": 1, "maxLength": 100},
        "success_path": {"type": "string", "maxLength": 200},
        "success_values": {"type": "array"},
        "store_as": {"type": "string", "minLength": 1, "maxLength": 100},
        "sensitive": {
            "type": "boolean",
            "description": "its answer is personal data (also implied when its request reads a sensitive field)",
        },
        "on_failure": ON_FAILURE,
        "description": {"type": "string", "maxLength": 2000},
        "timeout": {"type": ["string", "number"], "description": "ISO 8601 duration or seconds while pending"},
    },
    "required": ["name"],
    "additionalProperties": False,
    "if": {"properties": {"type": {"const": "workflow"}}, "required": ["type"]},
    "then": {"required": ["template"]},
    "else": {"required": ["api"]},
}

WORKFLOW_DEPENDENCIES = {"type": "array", "items": DEPENDENCY, "maxItems": 20}

END_ACTION_TYPES = ["api_call", "start_workflow", "none"]
END_ACTION_TARGET = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "properties": {
                "endpoint": ENDPOINT,
                "method": HTTP_METHOD,
                "headers": HEADERS,
                "timeout_s": TIMEOUT,
            },
            "required": ["endpoint"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"template": {"type": "string", "minLength": 1, "maxLength": 100}},
            "required": ["template"],
            "additionalProperties": False,
        },
    ]
}


def dependency_defaults(dep: dict[str, Any]) -> dict[str, Any]:
    """A dependency with its defaults filled in (type api, when on_start, on_failure fail)."""
    out = dict(dep)
    out.setdefault("type", "api")
    out.setdefault("when", "on_start")
    on_failure = {"action": "fail", "max_attempts": 5, "message": ""}
    on_failure.update(dep.get("on_failure") or {})
    out["on_failure"] = on_failure
    if out["type"] == "api":
        api = {"method": "POST", "headers": {}, "timeout_s": 10}
        api.update(dep.get("api") or {})
        out["api"] = api
    return out


_STATE_PLACEHOLDER = re.compile(r"\{\{\s*state\.([A-Za-z0-9_\-]+)")


def dependency_is_sensitive(dep: dict[str, Any], sensitive_fields: frozenset[str] | set[str]) -> bool:
    """A dependency is sensitive when declared so, or when its request reads a sensitive field
    ({{state.x}} in its endpoint, headers or body, or no body: then state_data is sent whole).
    Its endpoint, body and stored answer (`store_as`) are then masked for viewers."""
    if dep.get("sensitive"):
        return True
    api = dep.get("api")
    if not isinstance(api, dict) or not sensitive_fields:
        return False
    if "body" not in api and str(api.get("method", "POST")).upper() != "GET":
        return True
    text = json.dumps(api, ensure_ascii=False)
    return any(m.group(1) in sensitive_fields for m in _STATE_PLACEHOLDER.finditer(text))
