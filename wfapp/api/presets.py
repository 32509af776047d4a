"""Declaring a module's operations with what they share given once: the blueprint, the tag, who
may read and who may write, and the usual shape of each kind of operation (a create answers 201,
a delete 204 with no body). Every argument of `operation` can still be given, and wins.

    ops = OperationPresets(bp, tag="user types")

    @ops.read("/user-types/<user_type_id>", "A user type", "UserType")
    def get_user_type(user_type_id): ...

Also the two pieces every list operation repeats: its bounded `limit` and its `items` answer."""

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, jsonify, request

from wfapp.api.auth import ADMIN, READ
from wfapp.api.operations import operation
from wfapp.models import TokenRole

OPERATE = frozenset({TokenRole.ADMIN, TokenRole.OPERATOR})
# an operator's action on one workflow, answered with the workflow (409: its state does not allow it)
WORKFLOW_ACTION: dict[str, Any] = {"roles": OPERATE, "response": "Workflow", "errors": (409,)}


class OperationPresets:
    def __init__(self, bp, *, tag: str, reads: frozenset = READ, writes: frozenset = ADMIN):
        self.bp, self.tag, self.reads, self.writes = bp, tag, reads, writes

    def __call__(self, rule: str, method: str, **kwargs: Any) -> Callable:
        kwargs.setdefault("tag", self.tag)
        kwargs.setdefault("roles", self.reads if method == "GET" else self.writes)
        return operation(self.bp, rule, method, **kwargs)

    def read(self, rule: str, summary: str, response: str, **kwargs: Any) -> Callable:
        """A GET: one resource, or a list."""
        return self(rule, "GET", summary=summary, response=response, **kwargs)

    def create(
        self, rule: str, summary: str, body: dict[str, Any], body_name: str, response: str, **kwargs: Any
    ) -> Callable:
        """A POST that answers 201 with what it made."""
        kwargs.setdefault("status", 201)
        return self(rule, "POST", summary=summary, body=body, body_name=body_name, response=response, **kwargs)

    def change(
        self, rule: str, summary: str, body: dict[str, Any], body_name: str, response: str, **kwargs: Any
    ) -> Callable:
        """A PATCH (or, with method="PUT", a PUT) that answers with the changed resource."""
        method = kwargs.pop("method", "PATCH")
        return self(rule, method, summary=summary, body=body, body_name=body_name, response=response, **kwargs)

    def delete(self, rule: str, summary: str, **kwargs: Any) -> Callable:
        """A DELETE that answers 204 with no body."""
        kwargs.setdefault("status", 204)
        return self(rule, "DELETE", summary=summary, **kwargs)


def limit_arg(default: int, maximum: int) -> int:
    """The `limit` query argument, `default` when absent or zero, kept within 1..maximum."""
    return min(max(request.args.get("limit", default, type=int) or default, 1), maximum)


def items_response(rows: Iterable[Any], serialise: Callable[[Any], dict[str, Any]], **extra: Any) -> Response:
    """The answer of a list operation: {"items": [...], plus its paging fields}."""
    return jsonify({"items": [serialise(r) for r in rows], **extra})
