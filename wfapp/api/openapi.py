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


UUID = {"type": "string", "format": "uuid"}
STRINGS = {"type": "array", "items": {"type": "string"}}
NEXT_TIMER = answer(
    {
        "kind": {"type": "string", "enum": ["remind", "expire", "dependency_timeout"]},
        **typed("string", "name"),
        "due_at": TS,
    },
    "kind",
    "due_at",
    type=["object", "null"],
    description="when the workflow's next timer fires: reminder, expiry or a dependency's timeout (`name`)",
)
_ERROR = answer(typed("string", "path", "message"), "path", "message")
RESPONSE_SCHEMAS: dict[str, Any] = {
    "Problem": answer(
        {
            **typed("string", "type", "title", "detail"),
            **typed("integer", "status"),
            "errors": {"type": "array", "items": _ERROR},
        },
        "type",
        "title",
        "status",
        "detail",
    ),
    "WorkflowTemplate": answer(
        {
            "id": UUID,
            **typed("string", "name", "category", "description", "guidelines", "end_action_type"),
            **typed("boolean", "is_active"),
            **typed("integer", "version"),
            **typed("object", "state_schema"),
            "workflow_dependencies": {"type": "array", "items": DEPENDENCY},
            **typed(["object", "null"], "end_action_target"),
            "created_at": TS,
            "updated_at": TS,
        },
        "id",
        "name",
        "version",
        "state_schema",
        "is_active",
    ),
    "TemplateVersion": answer(
        {
            **typed("string", "template_id", "template", "change_note", "created_by"),
            **typed("integer", "number"),
            **typed("boolean", "is_current"),
            **typed("object", "state_schema"),
            "created_at": TS,
        },
        "number",
        "state_schema",
    ),
    "UserType": answer({**typed("string", "id", "name", "description"), "created_at": TS}, "id", "name"),
    "EndUser": answer(
        {**typed("string", "id", "user_type_id", "display_name"), "created_at": TS}, "id", "user_type_id"
    ),
    "Permission": answer(
        {**typed("integer", "id"), **typed("string", "user_type_id", "workflow_template_id"), "created_at": TS},
        "id",
        "user_type_id",
        "workflow_template_id",
    ),
    "Workflow": answer(
        {
            "id": UUID,
            **typed("string", "template_id", "template_name", "conversation_id", "user_id", "etag"),
            **typed("integer", "template_version"),
            "status": {"type": "string", "enum": ["active", "waiting", "completed", "failed", "cancelled"]},
            **typed(NULLABLE_STRING, "status_reason"),
            **typed("object", "state_data", "pending_dependencies"),
            "waiting_for": answer(
                {"next_timer": NEXT_TIMER},
                type=["object", "null"],
                description="what the workflow waits for (`name`, `since`, ...) and when its next timer fires",
            ),
            "suspended": answer({**typed("string", "reason"), "since": TS}, "reason", "since", type=["object", "null"]),
            "handoff": answer(
                {**typed("string", "reason"), **typed(NULLABLE_STRING, "source"), "since": TS},
                "reason",
                "source",
                "since",
                type=["object", "null"],
                description="handed to a human operator: why, who asked (llm, validation, operator), since when",
            ),
            "declined": {**STRINGS, "description": "optional fields the end user declined to give"},
            **{name: TS for name in ("started_at", "completed_at", "last_interaction_at", "updated_at")},
        },
        "id",
        "template_id",
        "conversation_id",
        "user_id",
        "status",
        "state_data",
    ),
    "Event": answer(
        {**typed("integer", "seq"), **typed("string", "type", "actor"), **typed("object", "data"), "created_at": TS},
        "seq",
        "type",
        "actor",
        "data",
    ),
    "WorkflowContext": answer(
        {
            **typed("string", "workflow_id", "guidelines"),
            **typed("object", "collected", "tool"),
            **typed("array", "missing_fields"),
            **typed(NULLABLE_STRING, "next_field"),
        },
        "workflow_id",
        "guidelines",
        "collected",
        "missing_fields",
        "tool",
    ),
    "ToolCallResult": answer(
        {
            **typed("object", "stored"),
            "refused": {"type": "array", "items": answer(typed("string", "field", "message", "hint"))},
            **typed(["object", "null"], "next", "handoff"),
            **typed("boolean", "can_complete"),
            **typed("array", "blocking_reasons"),
            "missing_required": STRINGS,
            **typed("string", "text"),
        },
        "stored",
        "refused",
        "next",
        "can_complete",
        "missing_required",
        "text",
        description="the feedback of a tool call, written for the LLM: pass it back as the tool result",
    ),
    "Tool": {"type": "object", "description": "a function-calling tool in the shape of the dialect asked for"},
    "MigrationPlan": answer(
        {
            **typed("string", "workflow_id", "status"),
            **typed(["integer", "null"], "from_version"),
            **typed("integer", "to_version"),
            **typed("boolean", "ok", "migrated"),
            **typed(NULLABLE_STRING, "refusal"),
            "fields": answer(
                {"valid": STRINGS, "invalid": {"type": "array", "items": {"type": "object"}}, "missing": STRINGS}
            ),
            "dependencies_rerun": STRINGS,
        },
        "workflow_id",
        "ok",
        "migrated",
        "fields",
        "dependencies_rerun",
    ),
}


def _list_of(name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return answer(
        {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}, **(extra or {})}, "items"
    )


LISTS = {
    "WorkflowTemplateList": _list_of("WorkflowTemplate"),
    "TemplateVersionList": _list_of("TemplateVersion"),
    "UserTypeList": _list_of("UserType"),
    "EndUserList": _list_of("EndUser", typed(NULLABLE_STRING, "next_after")),
    "PermissionList": _list_of("Permission"),
    "WorkflowList": _list_of("Workflow", typed(NULLABLE_STRING, "next_cursor")),
    "EventList": _list_of("Event"),
    "MigrationResult": _list_of(
        "MigrationPlan",
        {**typed("integer", "migrated", "refused"), **typed("boolean", "dry_run")},
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
