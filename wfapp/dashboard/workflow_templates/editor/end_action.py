"""Codec of the end action form: end_action_target <-> form values (inputs ``ea-<attr>``)."""

from __future__ import annotations

from typing import Any

from wfapp.dashboard.workflow_templates.editor.text import headers_text, parse_headers, parse_number, scalar_text

EA_ATTRS = ("endpoint", "method", "headers", "timeout_s", "template")
ERROR_LABELS = {
    "endpoint": "Endpoint",
    "method": "Method",
    "headers": "Headers",
    "timeout_s": "Timeout",
    "template": "Workflow template",
    "type": "Type",
    "": "",
}
TYPE_LABELS = {"api_call": "Call an API", "start_workflow": "Start another workflow", "none": "Nothing"}

Errors = dict[str, list[str]]


def values_from_target(target: Any) -> dict[str, str] | None:
    """Form values for an end_action_target, or None when only raw JSON can show it."""
    ea = {a: "" for a in EA_ATTRS}
    ea["method"] = "POST"
    if target is None:
        return ea
    if not isinstance(target, dict) or set(target) - set(EA_ATTRS):
        return None
    if not isinstance(target.get("headers") or {}, dict):
        return None
    ea["endpoint"] = target.get("endpoint", "")
    ea["method"] = target.get("method", "POST")
    ea["headers"] = headers_text(target.get("headers"))
    ea["timeout_s"] = scalar_text(target.get("timeout_s"))
    ea["template"] = target.get("template", "")
    if not all(isinstance(v, str) for v in ea.values()):
        return None
    return ea


def target_from_values(ea_type: str, ea: dict[str, str]) -> tuple[dict[str, Any] | None, Errors]:
    """The end_action_target of the form values for an end action type, and the form's
    mistakes by input."""
    errors: Errors = {}
    if ea_type == "api_call":
        target: dict[str, Any] = {}
        if ea["endpoint"].strip():
            target["endpoint"] = ea["endpoint"].strip()
        target["method"] = ea["method"] or "POST"
        try:
            headers = parse_headers(ea["headers"])
            if headers:
                target["headers"] = headers
        except ValueError as exc:
            errors["headers"] = [str(exc)]
        if ea["timeout_s"].strip():
            try:
                target["timeout_s"] = parse_number(ea["timeout_s"])
            except ValueError:
                errors["timeout_s"] = ["the timeout must be a number of seconds"]
        return target, errors
    if ea_type == "start_workflow":
        return ({"template": ea["template"].strip()} if ea["template"].strip() else {}), errors
    return None, errors


def error_attr(parts: list[str]) -> str:
    """The input that a service error names (``parts`` follow /end_action_target); "" for the
    whole section."""
    attr = parts[0] if parts else ""
    return attr if attr in EA_ATTRS else ""
