"""/api/openapi.json: OpenAPI 3.1, generated from the declared operations and the very schemas
that validate their bodies."""

import re
from typing import Any

from flask import jsonify

from wfapp.api import bp
from wfapp.api.operations import OPERATIONS, openapi_path
from wfapp.schemas.api import REQUEST_SCHEMAS
from wfapp.schemas.definitions import DEPENDENCY

STATUS_TITLES = {
    200: "OK",
    201: "Created",
    204: "No content",
    304: "Not modified",
    400: "Malformed JSON",
    401: "No or bad token",
    403: "Not allowed for this token's role or user type",
    404: "Not found",
    409: "Conflict with the current state",
    412: "If-Match does not match the current ETag",
    413: "Body over the configured limit",
    415: "Body is not JSON",
    422: "Validation failed",
}

TS = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_STRING = ["string", "null"]


def typed(json_type: str | list[str], *names: str) -> dict[str, Any]:
    """Properties `names`, each of this JSON type."""
    return {name: {"type": json_type} for name in names}


def answer(properties: dict[str, Any], *required: str, **keywords: Any) -> dict[str, Any]:
    """The schema of an answer: an object with these properties (more may come in later versions)."""
    schema: dict[str, Any] = {"type": "object", **keywords, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


NEXT_TIMER = {
    "type": ["object", "null"],
    "description": "when the workflow's next timer fires: reminder, expiry or a dependency's timeout (`name`)",
    "properties": {
        "kind": {"type": "string", "enum": ["remind", "expire", "dependency_timeout"]},
        "name": {"type": "string"},
        "due_at": TS,
    },
    "required": ["kind", "due_at"],
}
RESPONSE_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["path", "message"],
                },
            },
        },
        "required": ["type", "title", "status", "detail"],
    },
    "WorkflowTemplate": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "is_active": {"type": "boolean"},
            "version": {"type": "integer"},
            "description": {"type": "string"},
            "guidelines": {"type": "string"},
            "state_schema": {"type": "object"},
            "workflow_dependencies": {"type": "array", "items": DEPENDENCY},
            "end_action_type": {"type": "string"},
            "end_action_target": {"type": ["object", "null"]},
            "created_at": TS,
            "updated_at": TS,
        },
        "required": ["id", "name", "version", "state_schema", "is_active"],
    },
    "TemplateVersion": {
        "type": "object",
        "properties": {
            "template_id": {"type": "string"},
            "template": {"type": "string"},
            "number": {"type": "integer"},
            "is_current": {"type": "boolean"},
            "state_schema": {"type": "object"},
            "change_note": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": TS,
        },
        "required": ["number", "state_schema"],
    },
    "UserType": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "created_at": TS,
        },
        "required": ["id", "name"],
    },
    "EndUser": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "user_type_id": {"type": "string"},
            "display_name": {"type": "string"},
            "created_at": TS,
        },
        "required": ["id", "user_type_id"],
    },
    "Permission": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "user_type_id": {"type": "string"},
            "workflow_template_id": {"type": "string"},
            "created_at": TS,
        },
        "required": ["id", "user_type_id", "workflow_template_id"],
    },
    "Workflow": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "template_id": {"type": "string"},
            "template_name": {"type": "string"},
            "template_version": {"type": "integer"},
            "conversation_id": {"type": "string"},
            "user_id": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "waiting", "completed", "failed", "cancelled"]},
            "status_reason": {"type": ["string", "null"]},
            "state_data": {"type": "object"},
            "pending_dependencies": {"type": "object"},
            "waiting_for": {
                "type": ["object", "null"],
                "description": "what the workflow waits for (`name`, `since`, ...) and when its next timer fires",
                "properties": {"next_timer": NEXT_TIMER},
            },
            "suspended": {
                "type": ["object", "null"],
                "properties": {"reason": {"type": "string"}, "since": TS},
                "required": ["reason", "since"],
            },
            "handoff": {
                "type": ["object", "null"],
                "description": "handed to a human operator: why, who asked (llm, validation, operator), since when",
                "properties": {"reason": {"type": "string"}, "source": {"type": ["string", "null"]}, "since": TS},
                "required": ["reason", "source", "since"],
            },
            "declined": {
                "type": "array",
                "items": {"type": "string"},
                "description": "optional fields the end user declined to give",
            },
            "started_at": TS,
            "completed_at": TS,
            "last_interaction_at": TS,
            "updated_at": TS,
            "etag": {"type": "string"},
        },
        "required": ["id", "template_id", "conversation_id", "user_id", "status", "state_data"],
    },
    "Event": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "type": {"type": "string"},
            "actor": {"type": "string"},
            "data": {"type": "object"},
            "created_at": TS,
        },
        "required": ["seq", "type", "actor", "data"],
    },
    "WorkflowContext": {
        "type": "object",
        "properties": {
            "workflow_id": {"type": "string"},
            "guidelines": {"type": "string"},
            "collected": {"type": "object"},
            "missing_fields": {"type": "array"},
            "next_field": {"type": ["string", "null"]},
            "tool": {"type": "object"},
        },
        "required": ["workflow_id", "guidelines", "collected", "missing_fields", "tool"],
    },
    "ToolCallResult": {
        "type": "object",
        "description": "the feedback of a tool call, written for the LLM: pass it back as the tool result",
        "properties": {
            "stored": {"type": "object"},
            "refused": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                        "hint": {"type": "string"},
                    },
                },
            },
            "next": {"type": ["object", "null"]},
            "can_complete": {"type": "boolean"},
            "blocking_reasons": {"type": "array"},
            "missing_required": {"type": "array", "items": {"type": "string"}},
            "handoff": {"type": ["object", "null"]},
            "text": {"type": "string"},
        },
        "required": ["stored", "refused", "next", "can_complete", "missing_required", "text"],
    },
    "Tool": {"type": "object", "description": "a function-calling tool in the shape of the dialect asked for"},
    "MigrationPlan": {
        "type": "object",
        "properties": {
            "workflow_id": {"type": "string"},
            "status": {"type": "string"},
            "from_version": {"type": ["integer", "null"]},
            "to_version": {"type": "integer"},
            "ok": {"type": "boolean"},
            "migrated": {"type": "boolean"},
            "refusal": {"type": ["string", "null"]},
            "fields": {
                "type": "object",
                "properties": {
                    "valid": {"type": "array", "items": {"type": "string"}},
                    "invalid": {"type": "array", "items": {"type": "object"}},
                    "missing": {"type": "array", "items": {"type": "string"}},
                },
            },
            "dependencies_rerun": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["workflow_id", "ok", "migrated", "fields", "dependencies_rerun"],
    },
}


def _list_of(name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}, **(extra or {})},
        "required": ["items"],
    }


LISTS = {
    "WorkflowTemplateList": _list_of("WorkflowTemplate"),
    "TemplateVersionList": _list_of("TemplateVersion"),
    "UserTypeList": _list_of("UserType"),
    "EndUserList": _list_of("EndUser", {"next_after": {"type": ["string", "null"]}}),
    "PermissionList": _list_of("Permission"),
    "WorkflowList": _list_of("Workflow", {"next_cursor": {"type": ["string", "null"]}}),
    "EventList": _list_of("Event"),
    "MigrationResult": _list_of(
        "MigrationPlan",
        {"migrated": {"type": "integer"}, "refused": {"type": "integer"}, "dry_run": {"type": "boolean"}},
    ),
}


def build_openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path = openapi_path(op.rule)
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"{([a-z_]+)}", path)
        ]
        for p in params:
            if p["name"] == "number":
                p["schema"] = {"type": "integer", "minimum": 1}
        params += [{"in": "query", **q} for q in op.query]
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": STATUS_TITLES.get(op.status, "OK")}
        if op.response and op.status != 204:
            ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.response}"}}}
        responses[str(op.status)] = ok
        for code in op.errors:
            responses[str(code)] = {
                "description": STATUS_TITLES.get(code, "Error"),
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        entry: dict[str, Any] = {
            "operationId": op.endpoint.split(".", 1)[1],
            "summary": op.summary,
            "tags": [op.tag] if op.tag else [],
            "parameters": params,
            "responses": responses,
            "x-roles": sorted(str(r) for r in op.roles),
        }
        if op.public:
            entry["security"] = []
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    media_type: {"schema": {"$ref": f"#/components/schemas/{name}"}}
                    for media_type, name in {"application/json": op.body_name, **op.other_bodies}.items()
                },
            }
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wfapp API",
            "version": "1",
            "description": "LLM-guided data-collection workflows: workflow templates, permissions, workflows.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS, **LISTS},
        },
    }


_document: dict[str, Any] | None = None


@bp.get("/openapi.json")
def openapi_document():
    global _document
    if _document is None:
        _document = build_openapi()
    return jsonify(_document)
