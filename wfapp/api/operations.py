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
            token = auth.authenticate(roles)
            if body is not None:
                kwargs["body"] = parse_json_body(body)
            response = fn(**kwargs)
            if method != "GET":
                audit_api_change(token, fn.__name__, kwargs, response)
            return response

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        default_errors = (401, 403) + ((400, 413, 415, 422) if body is not None else ())
        OPERATIONS.append(Operation(
            rule=bp.url_prefix + rule, method=method, endpoint=f"{bp.name}.{fn.__name__}", summary=summary,
            roles=roles, body=body, body_name=body_name, response=response, status=status,
            errors=tuple(sorted(set(default_errors + errors))), query=query or [], tag=tag,
        ))
        return fn

    return decorator


def audit_api_change(token, endpoint: str, kwargs: dict[str, Any], response: Any) -> None:
    """A change made with a staff token (admin, operator, viewer) is a staff action: it goes to the
    audit log after it succeeded, with the names of the body's fields (never their values). The
    integration's own writes are the workflows' history (events), not staff actions."""
    from flask import make_response

    from wfapp.extensions import db
    from wfapp.models import TokenRole
    from wfapp.services.staff import record_staff_action

    if token.role == TokenRole.INTEGRATION:
        return
    status = make_response(response).status_code if not isinstance(response, int) else response
    if status >= 400:
        return
    target = {k: str(v) for k, v in kwargs.items() if k != "body"}
    body_keys = sorted(kwargs["body"]) if isinstance(kwargs.get("body"), dict) else []
    record_staff_action(db.session, f"token:{token.name}", f"api.{endpoint}", "api",
                        "/".join(target.values())[:200], {"method": request.method, "path": request.path[:500],
                                                           "fields": body_keys, **target},
                        request.remote_addr or "")
    db.session.commit()


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
