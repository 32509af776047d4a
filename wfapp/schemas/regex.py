"""Regular expressions written by template authors, run by RE2 (linear time in the input).

JSON Schema keywords that match an author's regex (`pattern`, `patternProperties`, and the
`additionalProperties`/`unevaluatedProperties` that depend on it; `propertyNames` runs `pattern`)
and the `regex` format go through RE2 here instead of Python's backtracking `re`. A pattern that
RE2 cannot compile (backreferences, lookarounds) is refused when the schema is saved.
"""

from __future__ import annotations

import threading
from typing import Any

import re2
from jsonschema.exceptions import ValidationError

_cache: dict[str, Any] = {}
_lock = threading.Lock()
_CACHE_MAX = 4096


def compiled_pattern(pattern: str) -> Any:
    """The RE2 program of `pattern`; raises re2.error when RE2 cannot compile it."""
    compiled = _cache.get(pattern)
    if compiled is None:
        options = re2.Options()
        options.log_errors = False
        compiled = re2.compile(pattern, options)
        with _lock:
            if len(_cache) < _CACHE_MAX:
                _cache[pattern] = compiled
    return compiled


def compile_error(pattern: str) -> str | None:
    """Why RE2 refuses `pattern`, or None when it compiles."""
    try:
        compiled_pattern(pattern)
    except re2.error as exc:
        why = exc.args[0] if exc.args else ""
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        return str(why) or "not a regular expression RE2 can run"
    return None


def search(pattern: str, text: str) -> bool:
    return compiled_pattern(pattern).search(text) is not None


def is_regex(instance: object) -> bool:
    """The `regex` format: a regular expression this application can run (RE2 syntax)."""
    return not isinstance(instance, str) or compile_error(instance) is None


def _matches(pattern: str, text: str) -> bool:
    try:
        return search(pattern, text)
    except re2.error:
        return False


def pattern(validator, patrn, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    if compile_error(patrn) is not None:
        yield ValidationError(f"the schema's pattern {patrn!r} cannot be compiled")
    elif not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for k, v in instance.items():
            if _matches(patrn, k):
                yield from validator.descend(v, subschema, path=k, schema_path=patrn)


def additional_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [k for k in instance if k not in properties and not any(_matches(p, k) for p in patterns)]


def additional_properties(validator, aP, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    extras = additional_keys(instance, schema)
    if validator.is_type(aP, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], aP, path=extra)
    elif not aP and extras:
        joined = ", ".join(repr(e) for e in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({joined} unexpected)")


def _valid(errors) -> bool:
    return next(iter(errors), None) is None


def evaluated_keys(validator, instance: dict[str, Any], schema: Any) -> set[str]:
    """The keys of `instance` that `schema` evaluates (for unevaluatedProperties)."""
    if not isinstance(schema, dict):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if isinstance(ref, str):
            resolved = validator._resolver.lookup(ref)
            inner = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= evaluated_keys(inner, instance, resolved.contents)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if keyword in schema:
            sub = schema[keyword]
            keys |= {k for k, v in instance.items() if _valid(validator.descend(v, sub))}
    for patrn in schema.get("patternProperties", {}):
        keys |= {k for k in instance if _matches(patrn, k)}
    for prop, sub in (schema.get("dependentSchemas") or {}).items():
        if prop in instance:
            keys |= evaluated_keys(validator, instance, sub)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            if _valid(validator.descend(instance, sub)):
                keys |= evaluated_keys(validator, instance, sub)
    if "if" in schema:
        if _valid(validator.descend(instance, schema["if"])):
            keys |= evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= evaluated_keys(validator, instance, schema["else"])
    return keys


def unevaluated_properties(validator, uP, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    seen = evaluated_keys(validator, instance, schema)
    bad = [k for k in instance if k not in seen and not _valid(validator.descend(instance[k], uP, path=k))]
    if bad:
        joined = ", ".join(repr(k) for k in sorted(bad))
        if uP is False:
            yield ValidationError(f"Unevaluated properties are not allowed ({joined} unexpected)")
        else:
            yield ValidationError(f"Unevaluated properties are not valid under the given schema ({joined})")


KEYWORDS = {
    "pattern": pattern,
    "patternProperties": pattern_properties,
    "additionalProperties": additional_properties,
    "unevaluatedProperties": unevaluated_properties,
}
