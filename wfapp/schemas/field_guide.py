"""A field of a state schema in plain words, for the chat LLM: its type ("object", "array of
string", "one of: …"), a re-ask hint (the expected form, the choices, an example) and an example
value that passes the field's own schema. Built once per compiled schema version and cached."""

from __future__ import annotations

import json
import math
import threading
from typing import TYPE_CHECKING, Any

import re2

from wfapp.schemas.tools import resolve_ref

if TYPE_CHECKING:
    from wfapp.schemas.state_schema import CompiledSchema

WFAPP_TYPE = "x-wfapp-type"
MAX_DEPTH = 12
SIMPLE_TYPES = ("string", "text", "number", "integer", "boolean", "enum", "date", "email", "phone")


def resolve(root: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """The schema with its local $ref followed (the $ref's siblings kept) and allOf folded in."""
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return node
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        target = resolve_ref(root, node["$ref"])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**(resolve(root, target, depth + 1) if isinstance(target, dict) else {}), **rest}
    if isinstance(node.get("allOf"), list):
        folded = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            part = resolve(root, part, depth + 1)
            if isinstance(part, dict):
                for k, v in part.items():
                    if k == "properties" and isinstance(folded.get(k), dict):
                        folded[k] = {**v, **folded[k]}
                    elif k == "required" and isinstance(folded.get(k), list):
                        folded[k] = [*folded[k], *v]
                    else:
                        folded.setdefault(k, v)
        node = folded
    return node


def _branches(node: dict[str, Any]) -> list[Any]:
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list):
            return [b for b in node[key] if not (isinstance(b, dict) and b.get("type") == "null")]
    return []


def _kind(node: dict[str, Any]) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t if isinstance(t, str) else None


# --- the type in words ------------------------------------------------------------------------


def type_words(root: dict[str, Any], prop: Any, depth: int = 0) -> str:
    node = resolve(root, prop)
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return "any value"
    wtype = node.get(WFAPP_TYPE)
    if wtype in SIMPLE_TYPES:
        return str(wtype)
    if "enum" in node or "const" in node:
        return "enum"
    branches = _branches(node)
    if branches:
        return "one of: " + ", ".join(_branch_name(root, b, depth) for b in branches)
    kind = _kind(node)
    if kind == "array":
        items = node.get("items")
        return "array of " + (type_words(root, items, depth + 1) if isinstance(items, dict) else "any value")
    if kind == "object" or isinstance(node.get("properties"), dict):
        return "object"
    if kind == "string" and node.get("format") in ("date", "email", "date-time"):
        return str(node["format"])
    return kind or "any value"


def _branch_name(root: dict[str, Any], branch: Any, depth: int) -> str:
    node = resolve(root, branch)
    if isinstance(node, dict) and node.get("title"):
        return f"{node['title']} ({type_words(root, node, depth + 1)})"
    return type_words(root, branch, depth + 1)


# --- the hint in words ------------------------------------------------------------------------


# The strings of a special form: how the guide words them, and an example.
STRING_FORMS = {
    "date": ("a date as YYYY-MM-DD", "2024-05-17"),
    "date-time": ("a date and time as YYYY-MM-DDTHH:MM:SSZ", "2024-05-17T10:30:00Z"),
    "email": ("an email address", "alex@example.com"),
    "phone": ("a phone number: digits, spaces allowed, an optional leading +", "+44 20 7946 0958"),
}


def _string_form(node: dict) -> str | None:
    """The node's special form of string (a key of STRING_FORMS), by its wfapp type or format."""
    wtype, fmt = node.get(WFAPP_TYPE), node.get("format")
    if wtype == "date" or fmt == "date":
        return "date"
    if fmt == "date-time":
        return "date-time"
    if wtype == "email" or fmt == "email":
        return "email"
    return "phone" if wtype == "phone" else None


def form_words(root: dict[str, Any], prop: Any, depth: int = 0) -> str:
    """What a valid answer looks like, in plain words."""
    node = resolve(root, prop)
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return "any value"
    choices = choices_of(root, node)
    if choices is not None:
        return "one of: " + ", ".join(_show(c) for c in choices)
    branches = _branches(node)
    if branches:
        return "one of these forms: " + "; or ".join(form_words(root, b, depth + 1) for b in branches)
    kind = _kind(node)
    form = _string_form(node)
    if form:
        return STRING_FORMS[form][0]
    if kind in ("number", "integer"):
        words = "a whole number" if kind == "integer" else "a number"
        return words + _bounds(node)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = node.get("items")
        words = "a list of " + (form_words(root, items, depth + 1) if isinstance(items, dict) else "values")
        lo, hi = node.get("minItems"), node.get("maxItems")
        if lo:
            words += f", at least {lo} item{'s' if lo != 1 else ''}"
        if hi is not None:
            words += f", at most {hi} item{'s' if hi != 1 else ''}"
        return words
    if kind == "object" or isinstance(node.get("properties"), dict):
        props = node.get("properties") or {}
        required = set(node.get("required") or [])
        parts = [
            f"{k} ({type_words(root, v, depth + 1)}{', required' if k in required else ''})" for k, v in props.items()
        ]
        return "an object with " + ", ".join(parts) if parts else "an object"
    if kind == "string":
        words = "text"
        lo, hi = node.get("minLength"), node.get("maxLength")
        if lo:
            words += f" of at least {lo} character{'s' if lo != 1 else ''}"
        if hi is not None:
            words += f"{' and' if lo else ''} of at most {hi} characters"
        if isinstance(node.get("pattern"), str):
            words += f", matching the pattern {node['pattern']}"
        return words
    return "any value"


def _bounds(node: dict[str, Any]) -> str:
    parts = []
    if node.get("minimum") is not None:
        parts.append(f"at least {_show(node['minimum'])}")
    if node.get("exclusiveMinimum") is not None:
        parts.append(f"above {_show(node['exclusiveMinimum'])}")
    if node.get("maximum") is not None:
        parts.append(f"at most {_show(node['maximum'])}")
    if node.get("exclusiveMaximum") is not None:
        parts.append(f"below {_show(node['exclusiveMaximum'])}")
    if node.get("multipleOf") is not None:
        parts.append(f"a multiple of {_show(node['multipleOf'])}")
    return (", " + ", ".join(parts)) if parts else ""


def choices_of(root: dict[str, Any], prop: Any) -> list[Any] | None:
    node = resolve(root, prop)
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("enum"), list):
        return [c for c in node["enum"] if c is not None]
    if "const" in node:
        return [node["const"]]
    return None


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --- an example value ---------------------------------------------------------------------------


def example_of(root: dict[str, Any], prop: Any, depth: int = 0) -> Any:
    """A value of the schema's form (the caller checks it against the schema); None if none."""
    node = resolve(root, prop)
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return None
    if isinstance(node.get("examples"), list) and node["examples"]:
        return node["examples"][0]
    if "default" in node and node["default"] is not None:
        return node["default"]
    choices = choices_of(root, node)
    if choices:
        return choices[0]
    branches = _branches(node)
    if branches:
        return example_of(root, branches[0], depth + 1)
    kind = _kind(node)
    if kind == "boolean":
        return True
    if kind in ("number", "integer"):
        return _number_example(node, kind == "integer")
    if kind == "array":
        item = example_of(root, node.get("items"), depth + 1) if isinstance(node.get("items"), dict) else "item"
        if item is None:
            return None
        return [item] * max(1, min(int(node.get("minItems") or 1), 1 if node.get("uniqueItems") else 10))
    if kind == "object" or isinstance(node.get("properties"), dict):
        out = {}
        for key, sub in (node.get("properties") or {}).items():
            value = example_of(root, sub, depth + 1)
            if value is not None:
                out[key] = value
        return out
    if kind == "string" or kind is None:
        form = _string_form(node)
        if form:
            return STRING_FORMS[form][1]
        if isinstance(node.get("pattern"), str):
            return pattern_example(node["pattern"])
        text = "example"
        lo, hi = int(node.get("minLength") or 0), node.get("maxLength")
        while len(text) < lo:
            text += " example"
        text = text[: max(lo, len("example"))]
        return text[:hi] if isinstance(hi, int) and hi > 0 else text
    return None


def _number_example(node: dict[str, Any], integer: bool) -> int | float:
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is None and node.get("exclusiveMinimum") is not None:
        lo = node["exclusiveMinimum"] + 1
    if hi is None and node.get("exclusiveMaximum") is not None:
        hi = node["exclusiveMaximum"] - 1
    value = lo if lo is not None else (hi if hi is not None and hi < 1 else 1)
    step = node.get("multipleOf")
    if step:
        value = math.ceil(value / step) * step
    if integer:
        return int(math.ceil(value))
    return int(value) if float(value).is_integer() else value


# A pattern's example: the simple regular expressions of data fields (classes, escapes, groups,
# alternation, quantifiers); anything else gives no example.
_ESCAPES = {"d": "5", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}


class _NoExample(Exception):
    pass


def pattern_example(pattern: str) -> str | None:
    try:
        text, end = _sequence(pattern, 0)
        if end != len(pattern):
            return None
        compiled = re2.compile(pattern)
    except (_NoExample, re2.error, IndexError, ValueError):
        return None
    return text if compiled.search(text) else None


def _sequence(p: str, i: int) -> tuple[str, int]:
    out = ""
    while i < len(p) and p[i] not in "|)":
        atom, i = _atom(p, i)
        count, i = _quantifier(p, i)
        out += atom * count
    if i < len(p) and p[i] == "|":  # the first alternative; skip the others
        depth = 0
        while i < len(p) and not (p[i] == ")" and depth == 0):
            if p[i] == "\\":
                i += 1
            elif p[i] == "(":
                depth += 1
            elif p[i] == ")":
                depth -= 1
            i += 1
    return out, i


def _atom(p: str, i: int) -> tuple[str, int]:
    c = p[i]
    if c in "^$":
        return "", i + 1
    if c == "\\":
        e = p[i + 1]
        if e in _ESCAPES:
            return _ESCAPES[e], i + 2
        if e.isalnum():
            raise _NoExample
        return e, i + 2
    if c == "[":
        return _class(p, i + 1)
    if c == "(":
        i += 1
        if p.startswith("?:", i):
            i += 2
        elif p[i] == "?":
            raise _NoExample
        text, i = _sequence(p, i)
        if p[i] != ")":
            raise _NoExample
        return text, i + 1
    if c == ".":
        return "a", i + 1
    if c in "*+?{":
        raise _NoExample
    return c, i + 1


def _class(p: str, i: int) -> tuple[str, int]:
    """A character class: its first member."""
    if p[i] == "^":
        raise _NoExample
    members: list[str] = []
    while not members or p[i] != "]":
        if p[i] == "\\":
            members.append(_ESCAPES.get(p[i + 1], p[i + 1]))
            i += 2
        else:
            members.append(p[i])
            i += 1
        if p[i] == "-" and p[i + 1] != "]":  # a range: its first member is enough
            i += 3 if p[i + 1] == "\\" else 2
    return members[0], i + 1


def _quantifier(p: str, i: int) -> tuple[int, int]:
    if i >= len(p):
        return 1, i
    c = p[i]
    if c == "?" or c == "*":
        n, i = (0, i + 1)
    elif c == "+":
        n, i = (1, i + 1)
    elif c == "{":
        close = p.index("}", i)
        lo = p[i + 1 : close].split(",")[0]
        n, i = (int(lo), close + 1)
    else:
        return 1, i
    if i < len(p) and p[i] in "?+":  # lazy or possessive
        i += 1
    return n, i


# --- one field, all of it --------------------------------------------------------------------------

_cache: dict[int, tuple[Any, dict[str, dict[str, Any]]]] = {}
_lock = threading.Lock()


def guides(compiled: CompiledSchema) -> dict[str, dict[str, Any]]:
    """Per field: type (in words), hint, example (None when none passes the field's schema), choices."""
    cached = _cache.get(id(compiled))
    if cached is not None and cached[0] is compiled:
        return cached[1]
    root = compiled.schema
    out: dict[str, dict[str, Any]] = {}
    for f in compiled.fields:
        example = example_of(root, f.schema)
        if example is not None and [
            e for e in compiled.validate_merge({f.key: example}, [f.key]) if e["field"] == f.key
        ]:
            example = None
        choices = choices_of(root, f.schema)
        hint = f"Expected: {form_words(root, f.schema)}."
        if example is not None and choices is None:
            hint += f" For example: {json.dumps(example, ensure_ascii=False)}."
        out[f.key] = {"type": type_words(root, f.schema), "hint": hint, "example": example, "choices": choices}
    with _lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[id(compiled)] = (compiled, out)
    return out
