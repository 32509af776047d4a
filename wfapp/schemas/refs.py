"""The $refs of a full JSON Schema, checked when it is saved.

- Every `$ref`/`$dynamicRef`, wherever it sits, must resolve inside the schema itself (a JSON
  Pointer or anchor, possibly via an embedded `$id`): remote schemas are never fetched.
- The schema expanded along its $refs must stay small: a chain of definitions that each refer to
  the previous one twice doubles at each level, and validation would walk every copy.
"""

from __future__ import annotations

from typing import Any

from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

# How many schema nodes validation may have to walk once $refs are followed.
MAX_EXPANDED_SIZE = 100_000

_SINGLE = (
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "contentSchema",
)
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def subschemas(schema: dict[str, Any]):
    """(pointer segments, subschema) of the keywords that hold schemas."""
    for kw in _SINGLE:
        if kw in schema:
            yield (kw,), schema[kw]
    for kw in _MAPS:
        if isinstance(schema.get(kw), dict):
            for name, sub in schema[kw].items():
                yield (kw, name), sub
    for kw in _LISTS:
        if isinstance(schema.get(kw), list):
            for i, sub in enumerate(schema[kw]):
                yield (kw, i), sub


def _escape(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def root_resolver(schema: dict[str, Any]):
    resource = DRAFT202012.create_resource(schema)
    return Registry().resolver_with_root(resource)


def check_refs(schema: dict[str, Any], prefix: str) -> list[dict[str, str]]:
    """Errors of unresolvable or remote $refs and of a too large expansion; [] when sound."""
    errors: list[dict[str, str]] = []
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()

    def size(node: Any, resolver, path: str) -> int:
        if not isinstance(node, dict):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_stack:
            return 1  # a recursive schema: each round consumes a level of the (finite) instance
        on_stack.add(key)
        if "$id" in node and isinstance(node["$id"], str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        total = 1
        for kw in ("$ref", "$dynamicRef"):
            ref = node.get(kw)
            if not isinstance(ref, str):
                continue
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                where = path
                if ref.startswith("#"):
                    errors.append({"path": where, "message": f"the $ref {ref!r} points to nothing in the schema"})
                else:
                    errors.append(
                        {
                            "path": where,
                            "message": f"the $ref {ref!r} points outside the schema: remote schemas are not "
                            "fetched (put the definition in $defs and refer to it as #/$defs/...)",
                        }
                    )
                continue
            total += size(resolved.contents, resolved.resolver, path)
        for parts, sub in subschemas(node):
            total += size(sub, resolver, path + "".join(f"/{_escape(p)}" for p in parts))
            if total > MAX_EXPANDED_SIZE:
                break
        on_stack.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(schema, root_resolver(schema), prefix)
    except RecursionError:
        return [{"path": prefix, "message": "its $refs chain too deeply"}]
    if errors:
        return errors
    if total > MAX_EXPANDED_SIZE:
        return [
            {
                "path": prefix,
                "message": f"expands to more than {MAX_EXPANDED_SIZE} subschemas once its $refs are followed "
                "(definitions that refer to each other several times multiply): simplify them",
            }
        ]
    return []
