"""Codec of the dependencies form: workflow_dependencies <-> rows (inputs ``d-<i>-<attr>``)."""

from __future__ import annotations

import json
from typing import Any

from wfapp.dashboard.workflow_templates.editor.fields import Row, RowErrors
from wfapp.dashboard.workflow_templates.editor.text import (
    headers_text,
    no_hostile_text,
    parse_headers,
    parse_number,
    pretty_json,
    scalar_text,
)

DEP_ATTRS = (
    "name",
    "type",
    "when",
    "when_fields",
    "endpoint",
    "method",
    "headers",
    "body",
    "timeout_s",
    "template",
    "success_path",
    "success_values",
    "store_as",
    "failure_action",
    "max_attempts",
    "failure_message",
    "description",
)
DEP_KEYS = frozenset(
    (
        "name",
        "type",
        "when",
        "api",
        "template",
        "success_path",
        "success_values",
        "store_as",
        "on_failure",
        "description",
    )
)
ERROR_LABELS = {
    "name": "Name",
    "endpoint": "Endpoint",
    "method": "Method",
    "headers": "Headers",
    "body": "Body",
    "timeout_s": "Timeout",
    "template": "Workflow template",
    "when": "When",
    "when_fields": "Fields",
    "failure_action": "On failure",
    "max_attempts": "Max attempts",
    "success_values": "Success values",
    "store_as": "Store as",
    "type": "Kind",
}
HTTP_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
FAILURE_ACTIONS = ("fail", "retry", "wait", "continue")
# service error path below /workflow_dependencies/<i>/ -> the input it names
ERROR_ATTR = {
    "api/endpoint": "endpoint",
    "api/method": "method",
    "api/headers": "headers",
    "api/body": "body",
    "api/timeout_s": "timeout_s",
    "api": "endpoint",
    "on_failure/action": "failure_action",
    "on_failure/max_attempts": "max_attempts",
    "on_failure/message": "failure_message",
    "on_failure": "failure_action",
    "when/fields": "when_fields",
    "when": "when",
}


def blank_row() -> Row:
    row = {a: "" for a in DEP_ATTRS}
    row.update(type="api", when="on_start", method="POST", failure_action="fail")
    return row


def rows_from_deps(deps: Any) -> list[Row] | None:
    """Form rows for workflow_dependencies, or None when only raw JSON can show them."""
    if not isinstance(deps, list):
        return None
    rows = []
    for dep in deps:
        if not isinstance(dep, dict) or set(dep) - DEP_KEYS:
            return None
        api = dep.get("api") or {}
        on_failure = dep.get("on_failure") or {}
        if not isinstance(api, dict) or not isinstance(on_failure, dict):
            return None
        if not isinstance(api.get("headers") or {}, dict):
            return None
        row = {a: "" for a in DEP_ATTRS}
        row["name"] = str(dep.get("name", ""))
        row["type"] = dep.get("type", "api")
        when = dep.get("when", "on_start")
        if isinstance(when, dict):
            fields = when.get("fields") or []
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                return None
            row["when"], row["when_fields"] = "fields", ", ".join(fields)
        else:
            row["when"] = str(when)
        row["endpoint"] = api.get("endpoint", "")
        row["method"] = api.get("method", "POST")
        row["headers"] = headers_text(api.get("headers"))
        row["body"] = pretty_json(api["body"]) if "body" in api else ""
        row["timeout_s"] = scalar_text(api.get("timeout_s"))
        row["template"] = dep.get("template", "")
        row["success_path"] = dep.get("success_path", "")
        row["success_values"] = json.dumps(dep["success_values"], ensure_ascii=False) if "success_values" in dep else ""
        row["store_as"] = dep.get("store_as", "")
        row["failure_action"] = on_failure.get("action", "fail")
        row["max_attempts"] = scalar_text(on_failure.get("max_attempts"))
        row["failure_message"] = on_failure.get("message", "")
        row["description"] = dep.get("description", "")
        if not all(isinstance(v, str) for v in row.values()):
            return None  # the form's inputs hold texts only
        rows.append(row)
    return rows


def deps_from_rows(rows: list[Row]) -> tuple[list[dict[str, Any]], RowErrors]:
    """The workflow_dependencies of the form rows, and the form's mistakes by row and input."""
    deps, errors = [], {}
    for i, row in enumerate(rows):
        mistakes: dict[str, list[str]] = {}
        deps.append(_dep_from_row(row, mistakes))
        if mistakes:
            errors[i] = mistakes
    return deps, errors


def _json(text: str) -> Any:
    return no_hostile_text(json.loads(text))


def _dep_from_row(row: Row, mistakes: dict[str, list[str]]) -> dict[str, Any]:
    def mistake(attr: str, message: str) -> None:
        mistakes.setdefault(attr, []).append(message)

    def put(target: dict[str, Any], attr: str, key: str | None = None) -> None:
        """The input's text, stripped, under `key` (default: the input's name) unless it is empty."""
        if row[attr].strip():
            target[key or attr] = row[attr].strip()

    def put_parsed(target: dict[str, Any], attr: str, parse, message: str, errors=(ValueError,)) -> None:
        """parse(the input's text) unless it is empty; when it does not parse, `message` (with the
        parser's {exc}) beside the input."""
        if row[attr].strip():
            try:
                target[attr] = parse(row[attr])
            except errors as exc:
                mistake(attr, message.format(exc=exc))

    dep: dict[str, Any] = {}
    put(dep, "name")
    dep["type"] = row["type"] if row["type"] in ("api", "workflow") else "api"
    if row["when"] == "fields":
        fields = [f.strip() for f in row["when_fields"].split(",") if f.strip()]
        if not fields:
            mistake("when_fields", "name the fields, separated by commas")
        dep["when"] = {"fields": fields}
    elif row["when"] in ("on_start", "before_complete"):
        dep["when"] = row["when"]
    json_errors = (ValueError, RecursionError)
    if dep["type"] == "api":
        api: dict[str, Any] = {}
        put(api, "endpoint")
        api["method"] = row["method"] or "POST"
        try:
            api["headers"] = parse_headers(row["headers"])
        except ValueError as exc:
            mistake("headers", str(exc))
        put_parsed(api, "body", _json, "the body is not valid JSON: {exc}", json_errors)
        put_parsed(api, "timeout_s", parse_number, "the timeout must be a number of seconds")
        dep["api"] = api
        put(dep, "success_path")
        put_parsed(dep, "success_values", _json, 'write a JSON list such as ["approved"]: {exc}', json_errors)
        put(dep, "store_as")
    else:
        put(dep, "template")
    on_failure: dict[str, Any] = {"action": row["failure_action"] or "fail"}
    put_parsed(on_failure, "max_attempts", int, "attempts must be a whole number")
    put(on_failure, "failure_message", "message")
    dep["on_failure"] = on_failure
    put(dep, "description")
    return dep


def error_attr(parts: list[str]) -> str:
    """The input of a row that a service error names (``parts`` follow the dependency's index)."""
    attr = ERROR_ATTR.get("/".join(parts)) or ERROR_ATTR.get("/".join(parts[:2])) or (parts[0] if parts else "name")
    return attr if attr in DEP_ATTRS else "name"
