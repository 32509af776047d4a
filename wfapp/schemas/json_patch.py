"""JSON Patch (RFC 6902) applied to a document such as state_data, with RFC 6901 pointers.

`apply_json_patch(doc, ops)` returns the patched copy (the input is never changed) or raises
JsonPatchError whose errors are [{"path", "message"}]: the path is where the failing operation
aims (prefixed, "/state_data/amount" by default), the message names the operation. The patch is
applied as a whole or not at all. A failing `test` raises JsonPatchTestFailed (409: the document
is not in the state the patch expects), any other failure JsonPatchError (422).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from wfapp.errors import ValidationFailed

OPS = ("add", "remove", "replace", "move", "copy", "test")
_INDEX = re.compile(r"0|[1-9][0-9]*")


class JsonPatchError(ValidationFailed):
    title = "The JSON Patch cannot be applied"

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)


class JsonPatchTestFailed(JsonPatchError):
    """A `test` operation found another value: the document is not in the state the patch
    expects (RFC 5789's "conflicting state"), so a 409."""

    status = 409
    title = "A JSON Patch test failed"


class _Fail(Exception):
    pass


class _TestFailed(_Fail):
    pass


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: "" is the whole document, "/a~1b/0" is ["a/b", "0"] (~1 is "/", ~0 is "~")."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _Fail(f"{pointer!r} is not a JSON Pointer (it must be empty or start with '/')")
    parts = pointer[1:].split("/")
    for p in parts:
        if re.search(r"~(?![01])", p):
            raise _Fail(f"{pointer!r} has a '~' not followed by 0 or 1")
    return [p.replace("~1", "/").replace("~0", "~") for p in parts]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not _INDEX.fullmatch(token):
        raise _Fail(f"{token!r} is not an array index")
    i = int(token)
    if i > len(container) or (i == len(container) and not for_add):
        raise _Fail(f"index {i} is out of range (the array has {len(container)} items)")
    return i


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _Fail(f"there is no member {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise _Fail(f"{token!r} goes into a value that is neither an object nor an array")
    return node


def _target(doc: Any, parts: list[str]) -> tuple[Any, str]:
    """The container that holds what `parts` points to, and the last token."""
    parent = _parent(doc, parts)
    if not isinstance(parent, (dict, list)):
        raise _Fail("the target's parent is neither an object nor an array")
    return parent, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, token = _target(doc, parts)
    if isinstance(parent, list):
        return parent[_index(parent, token, for_add=False)]
    if token not in parent:
        raise _Fail(f"there is no member {token!r}")
    return parent[token]


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, token = _target(doc, parts)
    if isinstance(parent, list):
        parent.insert(_index(parent, token, for_add=True), value)
    else:
        parent[token] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise _Fail("the whole document cannot be removed")
    parent, token = _target(doc, parts)
    if isinstance(parent, list):
        del parent[_index(parent, token, for_add=False)]
    elif token in parent:
        del parent[token]
    else:
        raise _Fail(f"there is no member {token!r} to remove")
    return doc


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: 1 == 1.0, but true is not 1 and key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _apply(doc: Any, i: int, op: Any) -> Any:
    if not isinstance(op, dict):
        raise _Fail(f"operation {i} must be an object with 'op' and 'path'")
    name = op.get("op")
    if name not in OPS:
        raise _Fail(f"operation {i}: 'op' must be one of {', '.join(OPS)}")
    if not isinstance(op.get("path"), str):
        raise _Fail(f"operation {i} ({name}): 'path' must be a JSON Pointer string")
    parts = parse_pointer(op["path"])
    if name in ("add", "replace", "test") and "value" not in op:
        raise _Fail(f"operation {i} ({name}) needs a 'value'")
    if name in ("move", "copy"):
        if not isinstance(op.get("from"), str):
            raise _Fail(f"operation {i} ({name}) needs 'from', a JSON Pointer string")
        source = parse_pointer(op["from"])
        value = copy.deepcopy(_get(doc, source))
        if name == "move":
            if parts[: len(source)] == source and len(parts) > len(source):
                raise _Fail(f"operation {i} (move): a value cannot move into itself")
            doc = _remove(doc, source)
        return _add(doc, parts, value)
    if name == "add":
        return _add(doc, parts, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, parts)
    if name == "replace":
        _get(doc, parts)  # the target must exist
        if not parts:
            return copy.deepcopy(op["value"])
        parent = _parent(doc, parts)
        key = parts[-1] if isinstance(parent, dict) else _index(parent, parts[-1], for_add=False)
        parent[key] = copy.deepcopy(op["value"])
        return doc
    # test
    try:
        current = _get(doc, parts)
    except _Fail as exc:
        raise _TestFailed(f"operation {i} (test): {exc}") from None
    if not json_equal(current, op["value"]):
        raise _TestFailed(f"operation {i} (test): the value differs")
    return doc


def apply_json_patch(doc: Any, ops: Any, prefix: str = "/state_data") -> Any:
    """Apply the RFC 6902 operations `ops` to a copy of `doc`; raise JsonPatchError."""
    if not isinstance(ops, list):
        raise JsonPatchError([{"path": prefix, "message": "a JSON Patch is an array of operations"}])
    result = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        try:
            result = _apply(result, i, op)
        except _Fail as exc:
            where = op["path"] if isinstance(op, dict) and isinstance(op.get("path"), str) else ""
            name = op.get("op") if isinstance(op, dict) else None
            message = str(exc) if str(exc).startswith("operation") else f"operation {i} ({name}): {exc}"
            error = JsonPatchTestFailed if isinstance(exc, _TestFailed) else JsonPatchError
            raise error([{"path": prefix + where, "message": message}]) from None
    return result
