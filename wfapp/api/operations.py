"""Declaring an API operation once: the route, who may call it, the schema its body is validated
with, and what it answers. The OpenAPI document is generated from the same declarations."""

import json as _json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, request
from werkzeug.routing import IntegerConverter

from wfapp.api import auth
from wfapp.db_setup import start_write
from wfapp.errors import Problem, ValidationFailed
from wfapp.extensions import db
from wfapp.models import TokenRole
from wfapp.schemas.nesting import MAX_NESTING, nesting_depth
from wfapp.services.validation import hostile_text, schema_errors


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
    public: bool = False  # no API token: the operation checks its own credential
    # other media types of the body and the name of their schema (the body is application/json)
    other_bodies: dict[str, str] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def _refuse_constant(name: str):
    # Python's json reads NaN and Infinity, which are not JSON: stored, they would make every
    # later answer invalid JSON (and PostgreSQL's JSONB refuses them)
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a JSON number")
    return value


def parse_json_body(schema: dict[str, Any]) -> Any:
    if not request.mimetype or not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"send the body as application/json, not {request.mimetype or 'nothing'}")
    raw = request.get_data(cache=True)
    try:
        data = _json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSON(f"the body nests deeper than {MAX_NESTING} levels") from None
    if nesting_depth(data) > MAX_NESTING:
        raise MalformedJSON(f"the body nests deeper than {MAX_NESTING} levels")
    hostile = hostile_text(data)
    if hostile is not None:
        # refused here, so that it reaches neither the database, nor the outbox, nor a log line
        raise MalformedJSON(f"{hostile[0]}: {hostile[1]}", [{"path": hostile[0], "message": hostile[1]}])
    errors = schema_errors(schema, data)
    if errors:
        raise ValidationFailed("; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors[:5]), errors)
    return data


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    roles: frozenset,
    body: dict[str, Any] | None = None,
    body_name: str | None = None,
    response: str | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    query: list[dict[str, Any]] | None = None,
    tag: str = "",
    public: bool = False,
    other_bodies: dict[str, tuple[str, dict[str, Any]]] | None = None,
) -> Callable:
    """`other_bodies` maps another media type of the body to (schema name, schema): a body sent
    with that Content-Type is validated with that schema instead of `body`."""

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def view(**kwargs):
            if method != "GET":
                # SQLite: one write transaction (BEGIN IMMEDIATE) for the change; the token
                # check before it reads in autocommit (read_outside_transaction), and the body
                # is parsed and checked before the transaction takes the writer's lock
                start_write(db.session)
            # a row of plain values, readable after any commit; none for a public operation
            token = None if public else auth.authenticate(roles)
            check_query_text(query or [])
            check_integer_query(query or [])
            check_numeric_path(kwargs)
            if body is not None:
                kwargs["body"] = parse_json_body((other_bodies or {}).get(request.mimetype, (None, body))[1])
            if method != "GET" and token is not None:
                auth.record_token_use(db.session, token.id)
            response = fn(**kwargs)
            if method != "GET" and token is not None and token.role != TokenRole.INTEGRATION:
                audit_api_change(token, fn.__name__, kwargs, response)
            return response

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        assert bp.url_prefix is not None  # the API's blueprints are mounted at a prefix
        default_errors = ((403,) if public else (401, 403)) + ((400, 413, 415, 422) if body is not None else ())
        # any query argument with a control character is a 422 (check_query_text), a path
        # argument with one names nothing (404)
        default_errors += (422,) + ((404,) if "<" in rule else ())
        OPERATIONS.append(
            Operation(
                rule=bp.url_prefix + rule,
                method=method,
                endpoint=f"{bp.name}.{fn.__name__}",
                summary=summary,
                roles=roles,
                body=body,
                body_name=body_name,
                response=response,
                status=status,
                errors=tuple(sorted(set(default_errors + errors))),
                query=query or [],
                tag=tag,
                public=public,
                other_bodies={media_type: name for media_type, (name, _schema) in (other_bodies or {}).items()},
            )
        )
        return fn

    return decorator


DB_INT_RANGE = (-(2**63), 2**63 - 1)


def check_query_text(query: list[dict[str, Any]]) -> None:
    """Query arguments holding a NUL or another control character (names included) are refused
    with 422 before they reach the database; a declared `pattern` is enforced the same way."""
    errors = []
    for name in request.args:
        values = request.args.getlist(name)
        hostile = hostile_text({name: values}, "/query", controls=True, allow="")
        if hostile is not None:
            where = hostile[0].rsplit("/", 1)[0] if hostile[0].count("/") > 2 else "/query"
            errors.append({"path": where, "message": hostile[1]})
    for q in query:
        pattern = (q.get("schema") or {}).get("pattern")
        value = request.args.get(q["name"])
        if pattern and value and not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value):
            errors.append({"path": f"/query/{q['name']}", "message": f"must match {pattern}"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]), errors)


def check_integer_query(query: list[dict[str, Any]]) -> None:
    """An integer query parameter beyond what the database can compare with (64-bit) is refused
    with 422 instead of overflowing the driver (a 500)."""
    errors = []
    for q in query:
        if (q.get("schema") or {}).get("type") != "integer":
            continue
        value = request.args.get(q["name"], "").strip()
        digits = value[1:] if value[:1] in "+-" else value
        if (
            digits.isascii()
            and digits.isdigit()
            and (len(digits) > 19 or not DB_INT_RANGE[0] <= int(value) <= DB_INT_RANGE[1])
        ):
            errors.append({"path": f"/query/{q['name']}", "message": "is out of range"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)


def check_numeric_path(kwargs: dict[str, Any]) -> None:
    """A numeric id beyond 64 bits names nothing: 404 before it reaches the database driver."""
    from wfapp.errors import NotFound

    for name, value in kwargs.items():
        digits = str(value)
        if hostile_text(digits, controls=True, allow="") is not None:  # names nothing; never sent to the database
            raise NotFound(f"no {name.removesuffix('_id').replace('_', ' ')} with such an id")
        # isascii: str.isdigit() is also true for '³', which int() refuses
        if digits.isascii() and digits.isdigit() and (len(digits) > 19 or int(digits) > DB_INT_RANGE[1]):
            raise NotFound(f"no {name.removesuffix('_id').replace('_', ' ')} {digits}")


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
    body = kwargs.get("body")
    if isinstance(body, list):  # a JSON Patch: the paths it changes
        body_keys = sorted({op["path"] for op in body if isinstance(op, dict) and isinstance(op.get("path"), str)})
    else:
        body_keys = sorted(body) if isinstance(body, dict) else []
    record_staff_action(
        db.session,
        f"token:{token.name}",
        f"api.{endpoint}",
        "api",
        "/".join(target.values())[:200],
        {"method": request.method, "path": request.path[:500], "fields": body_keys, **target},
        request.remote_addr or "",
    )
    db.session.commit()


class DatabaseInteger(IntegerConverter):
    """The `int` URL converter, bounded to what the database stores: a larger number does not
    match the route (404) instead of overflowing the driver (500)."""

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_RANGE[1], signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
