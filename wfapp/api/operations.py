"""Declaring an API operation once: the route, who may call it, the schema its body is validated
with, and what it answers. The OpenAPI document is generated from the same declarations."""

import json as _json
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, request

from wfapp.api import auth
from wfapp.services.errors import Problem, ValidationFailed
from wfapp.services.validation import schema_errors


class MalformedJSON(Problem):
    status = 400
    title = "Malformed JSON"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported media type"


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    roles: frozenset
    body: dict[str, Any] | None
    body_name: str | None
    response: str | None
    status: int
    errors: tuple[int, ...]
    query: list[dict[str, Any]] = field(default_factory=list)
    tag: str = ""


OPERATIONS: list[Operation] = []


def parse_json_body(schema: dict[str, Any]) -> Any:
    if not request.mimetype or not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"send the body as application/json, not {request.mimetype or 'nothing'}")
    raw = request.get_data(cache=True)
    try:
        data = _json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    errors = schema_errors(schema, data)
    if errors:
        raise ValidationFailed("; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors[:5]), errors)
    return data


def operation(bp: Blueprint, rule: str, method: str, *, summary: str, roles: frozenset,
              body: dict[str, Any] | None = None, body_name: str | None = None, response: str | None = None,
              status: int = 200, errors: tuple[int, ...] = (), query: list[dict[str, Any]] | None = None,
              tag: str = "") -> Callable:
    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def view(**kwargs):
            auth.authenticate(roles)
            if body is not None:
                kwargs["body"] = parse_json_body(body)
            return fn(**kwargs)

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        default_errors = (401, 403) + ((400, 413, 415, 422) if body is not None else ())
        OPERATIONS.append(Operation(
            rule=bp.url_prefix + rule, method=method, endpoint=f"{bp.name}.{fn.__name__}", summary=summary,
            roles=roles, body=body, body_name=body_name, response=response, status=status,
            errors=tuple(sorted(set(default_errors + errors))), query=query or [], tag=tag,
        ))
        return fn

    return decorator


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
