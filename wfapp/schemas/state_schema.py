"""state_schema: the compact form authors write, compiled to one JSON Schema (Draft 2020-12).

Compact form, one entry per field, in the order of the questions:
    {"amount": {"type": "number", "required": true, "minimum": 1000, "title": "Loan amount"}}
A full JSON Schema object ({"type": "object", "properties": ..., "required": [...]}) is accepted
as it is. Both compile to one schema, checked against the metaschema when a version is saved and
compiled into one validator per version, cached.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable

from wfapp.services.errors import SchemaError

FIELD_TYPES = ("string", "text", "number", "integer", "boolean", "enum", "date", "email", "phone", "array")
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{5,24}$"
# Keywords of the compact form besides type/required/sensitive/choices; passed to JSON Schema as is.
PASS_THROUGH = (
    "title",
    "description",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "default",
    "examples",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "const",
)
COMPACT_KEYS = frozenset(("type", "required", "sensitive", "choices", "items", *PASS_THROUGH))
WFAPP_TYPE = "x-wfapp-type"
# Top-level keywords of a state schema that judge each field on its own (no minProperties,
# dependentRequired, $defs to refer to, ...).
FIELD_WISE_KEYWORDS = frozenset(
    {"$schema", "$id", "$comment", "type", "title", "description", "properties", "required", "additionalProperties"}
)
SENSITIVE = "x-sensitive"


def _re2_pattern(validator, pattern, instance, schema):
    """The `pattern` keyword, run by RE2 (linear time) instead of Python's backtracking re."""
    if not validator.is_type(instance, "string"):
        return
    try:
        compiled = _compiled_pattern(pattern)
    except re2.error:
        yield ValidationError(f"the schema's pattern {pattern!r} cannot be compiled")
        return
    if not compiled.search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_pattern_cache: dict[str, Any] = {}


def _compiled_pattern(pattern: str):
    compiled = _pattern_cache.get(pattern)
    if compiled is None:
        options = re2.Options()
        options.log_errors = False
        compiled = re2.compile(pattern, options)
        if len(_pattern_cache) < 4096:
            _pattern_cache[pattern] = compiled
    return compiled


StateValidator = validators.extend(Draft202012Validator, {"pattern": _re2_pattern})
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
# Remote $refs are never fetched: an empty registry without a retriever.
EMPTY_REGISTRY: Registry = Registry()


def is_full_schema(state_schema: dict[str, Any]) -> bool:
    return state_schema.get("type") == "object" and isinstance(state_schema.get("properties"), dict)


def compile_state_schema(state_schema: Any) -> dict[str, Any]:
    """Compile the authored state_schema (compact or full) to a JSON Schema; raise SchemaError."""
    from wfapp.services.validation import MAX_NESTING, nesting_depth

    errors: list[dict[str, str]] = []
    if not isinstance(state_schema, dict):
        raise SchemaError([{"path": "/state_schema", "message": "must be an object of fields"}])
    if nesting_depth(state_schema) > MAX_NESTING:
        raise SchemaError([{"path": "/state_schema", "message": f"nests deeper than {MAX_NESTING} levels"}])
    if is_full_schema(state_schema):
        schema = copy.deepcopy(state_schema)
        schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
    else:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {},
            "required": [],
        }
        for key, spec in state_schema.items():
            prop = _compile_field(key, spec, errors)
            if prop is not None:
                schema["properties"][key] = prop
                if spec.get("required") is True:
                    schema["required"].append(key)
    try:
        _check_schema(schema, state_schema)
    except SchemaError as exc:
        errors.extend(e for e in exc.errors if e not in errors)
    if errors:
        raise SchemaError(errors)
    return schema


def _compile_field(key: str, spec: Any, errors: list[dict[str, str]]) -> dict[str, Any] | None:
    path = f"/state_schema/{_escape(key)}"
    if not key or not isinstance(key, str) or len(key) > 100:
        errors.append({"path": path, "message": "a field key must be a non-empty name of at most 100 characters"})
        return None
    if not isinstance(spec, dict):
        errors.append({"path": path, "message": 'a field must be an object such as {"type": "string"}'})
        return None
    unknown = sorted(set(spec) - COMPACT_KEYS)
    if unknown:
        errors.append({"path": f"{path}/{unknown[0]}", "message": f"unknown field setting {unknown[0]!r}"})
    ftype = spec.get("type", "string")
    if ftype not in FIELD_TYPES:
        errors.append({"path": f"{path}/type", "message": f"type must be one of {', '.join(FIELD_TYPES)}"})
        return None
    if "required" in spec and not isinstance(spec["required"], bool):
        errors.append({"path": f"{path}/required", "message": "required must be true or false"})
    prop: dict[str, Any] = {}
    if ftype in ("string", "text"):
        prop["type"] = "string"
    elif ftype == "enum":
        choices = spec.get("choices", spec.get("enum"))
        if not isinstance(choices, list) or not choices:
            errors.append({"path": f"{path}/choices", "message": "an enum field needs a non-empty list of choices"})
            return None
        if len(set(map(repr, choices))) != len(choices):
            errors.append({"path": f"{path}/choices", "message": "choices must not repeat"})
        prop["enum"] = list(choices)
    elif ftype == "date":
        prop.update(type="string", format="date")
    elif ftype == "email":
        prop.update(type="string", format="email")
    elif ftype == "phone":
        prop.update(type="string", pattern=PHONE_PATTERN)
    elif ftype == "array":
        prop.update(type="array", items=spec.get("items", {"type": "string"}))
    else:
        prop["type"] = ftype
    for kw in PASS_THROUGH:
        if kw in spec and not (kw == "enum" and ftype == "enum"):
            prop[kw] = spec[kw]
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if _is_number(lo) and _is_number(hi) and lo > hi:
        errors.append({"path": f"{path}/minimum", "message": f"minimum {lo} is above maximum {hi}"})
    lo, hi = spec.get("minLength"), spec.get("maxLength")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        errors.append({"path": f"{path}/minLength", "message": f"minLength {lo} is above maxLength {hi}"})
    prop[WFAPP_TYPE] = ftype
    if spec.get("sensitive"):
        prop[SENSITIVE] = True
    return prop


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _authored_path(schema_path: Iterable[Any], authored_full: bool) -> str:
    """Where in the authored state_schema a metaschema error points."""
    parts = list(schema_path)
    if not authored_full and len(parts) >= 2 and parts[0] == "properties":
        parts = parts[1:]
    return "/state_schema" + "".join(f"/{_escape(str(p))}" for p in parts)


def _check_schema(schema: dict[str, Any], authored: dict[str, Any]) -> None:
    full = is_full_schema(authored)
    errors = []
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=FORMAT_CHECKER)
    for err in meta.iter_errors(schema):
        errors.append({"path": _authored_path(err.absolute_path, full), "message": err.message})
    if errors:
        raise SchemaError(errors)
    # Every pattern must compile in RE2, and every default/example must satisfy its field.
    for key, prop in _walk_properties(schema):
        path = f"/state_schema/{_escape(key)}" if not full else f"/state_schema/properties/{_escape(key)}"
        pattern = prop.get("pattern")
        if isinstance(pattern, str):
            try:
                _compiled_pattern(pattern)
            except re2.error as exc:
                errors.append({"path": f"{path}/pattern", "message": f"pattern does not compile: {exc}"})
                continue
        if "default" in prop:
            for err in _field_validator(prop).iter_errors(prop["default"]):
                errors.append({"path": f"{path}/default", "message": f"default is invalid: {err.message}"})
        for i, example in enumerate(prop.get("examples") or []):
            for err in _field_validator(prop).iter_errors(example):
                errors.append({"path": f"{path}/examples/{i}", "message": f"example is invalid: {err.message}"})
    if errors:
        raise SchemaError(errors)
    # A $ref that cannot be resolved (remote ones are never fetched) or that refers to itself
    # without end would fail every later validation: try each field once now.
    whole = StateValidator(schema, format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY)
    for key, _prop in _walk_properties(schema):
        for sample in (None, 0, "", [], {}):
            try:
                list(whole.iter_errors({key: sample}))
            except Unresolvable as exc:
                errors.append({"path": _field_path(key, full), "message": f"a $ref cannot be resolved: {exc}"})
                break
            except RecursionError:
                errors.append({"path": _field_path(key, full), "message": "a $ref refers to itself without end"})
                break
    if errors:
        raise SchemaError(errors)


def _field_path(key: str, full: bool) -> str:
    return f"/state_schema/properties/{_escape(key)}" if full else f"/state_schema/{_escape(key)}"


def _walk_properties(schema: dict[str, Any]):
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            yield key, prop


def _field_validator(prop: dict[str, Any]) -> Draft202012Validator:
    return StateValidator(prop, format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY)


@dataclass(frozen=True)
class Field:
    """One field of a state_schema, in question order: what forms and the LLM context need."""

    key: str
    title: str
    type: str
    required: bool
    description: str
    schema: dict[str, Any]
    sensitive: bool


@dataclass
class CompiledSchema:
    schema: dict[str, Any]
    validator: Any
    partial_validator: Any
    fields: list[Field]

    @property
    def required(self) -> list[str]:
        return [f.key for f in self.fields if f.required]

    @property
    def is_field_wise(self) -> bool:
        """True when every top-level keyword concerns one field at a time."""
        return set(self.schema) <= FIELD_WISE_KEYWORDS

    def validate_merge(self, new_state: dict[str, Any], touched: Iterable[str]) -> list[dict[str, str]]:
        """Errors of the touched fields (required-ness is not checked before completion)."""
        touched = set(touched)
        # Where no keyword relates fields to each other, checking the touched fields alone is
        # the same check, and its cost does not grow with the fields already collected.
        instance = {k: new_state[k] for k in touched if k in new_state} if self.is_field_wise else new_state
        return [e for e in _errors(self.partial_validator, instance) if e["field"] in touched or e["field"] is None]

    def validate_complete(self, state: dict[str, Any]) -> list[dict[str, str]]:
        return _errors(self.validator, state)

    def defaults(self) -> dict[str, Any]:
        return {f.key: copy.deepcopy(f.schema["default"]) for f in self.fields if "default" in f.schema}

    def missing(self, state: dict[str, Any]) -> list[Field]:
        return [f for f in self.fields if state.get(f.key) in (None, "", [])]


def _non_finite(instance: Any, path: list[Any]) -> list[dict[str, Any]]:
    """NaN and ±Infinity are no JSON numbers: a form or a parser that lets them through must not
    store them (answers would no longer be JSON; PostgreSQL's JSONB refuses them)."""
    out, stack = [], [(instance, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            out.append(
                {
                    "path": "/state_data" + "".join(f"/{_escape(str(p))}" for p in where),
                    "message": "is not a finite number",
                    "field": str(where[0]) if where else None,
                }
            )
        elif isinstance(item, dict):
            stack.extend((v, where + [k]) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, where + [i]) for i, v in enumerate(item))
    return out


def _errors(validator, instance: dict[str, Any]) -> list[dict[str, Any]]:
    out = _non_finite(instance, [])
    try:
        found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    except (Unresolvable, RecursionError):
        # a schema saved before such schemas were refused, or data nested beyond evaluation
        return [
            {
                "path": "/state_data",
                "message": "cannot be checked against the workflow template's schema",
                "field": None,
            }
        ]
    for err in found:
        path = list(err.absolute_path)
        if err.validator == "required" and not path:
            # "'amount' is a required property" -> point at the field itself
            missing = [k for k in err.validator_value if k not in instance]
            for key in missing:
                out.append({"path": f"/state_data/{_escape(key)}", "message": "is required", "field": key})
            continue
        field = str(path[0]) if path else None
        out.append(
            {
                "path": "/state_data" + "".join(f"/{_escape(str(p))}" for p in path),
                "message": _message(err),
                "field": field,
            }
        )
    # de-duplicate, keep order
    seen, result = set(), []
    for e in out:
        k = (e["path"], e["message"])
        if k not in seen:
            seen.add(k)
            result.append(e)
    return result


def _message(err: ValidationError) -> str:
    if err.validator == "format":
        return f"is not a valid {err.validator_value}"
    if err.validator == "pattern" and err.schema.get(WFAPP_TYPE) == "phone":
        return "is not a valid phone number"
    if err.validator == "pattern":
        # explained by the field's examples or description, never by the regular expression
        examples = [e for e in err.schema.get("examples") or [] if isinstance(e, str)]
        if examples:
            return f"must look like: {examples[0]}"
        description = str(err.schema.get("description") or "").strip()
        if description:
            return f"is not in the expected form ({description})"
        return "is not in the expected form"
    return err.message


def build_compiled(schema: dict[str, Any]) -> CompiledSchema:
    partial = {k: v for k, v in schema.items() if k != "required"}
    required = set(schema.get("required") or [])
    fields = [
        Field(
            key=key,
            title=prop.get("title") or key.replace("_", " ").capitalize(),
            type=prop.get(WFAPP_TYPE) or _infer_type(prop),
            required=key in required,
            description=prop.get("description", ""),
            schema=prop,
            sensitive=bool(prop.get(SENSITIVE)),
        )
        for key, prop in _walk_properties(schema)
    ]
    return CompiledSchema(
        schema=schema,
        validator=StateValidator(schema, format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY),
        partial_validator=StateValidator(partial, format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY),
        fields=fields,
    )


def _infer_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "enum"
    t = prop.get("type")
    fmt = prop.get("format")
    if t == "string" and fmt in ("date", "email"):
        return fmt
    if t in FIELD_TYPES:
        return t
    return "string"


_cache: dict[int, CompiledSchema] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 512


def compiled_for_version(version) -> CompiledSchema:
    """The compiled schema of a template version: built once per version and cached (versions
    are immutable, so the id is a sound key)."""
    cached = _cache.get(version.id)
    if cached is not None:
        return cached
    compiled = build_compiled(compile_state_schema(version.state_schema))
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[version.id] = compiled
    return compiled


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def tool_definition(compiled: CompiledSchema, name: str, description: str) -> dict[str, Any]:
    """A function-calling tool that lets an LLM write collected data into state_data."""
    properties = {}
    for f in compiled.fields:
        prop = {k: v for k, v in f.schema.items() if not k.startswith("x-") and k not in ("default",)}
        if f.description and "description" not in prop:
            prop["description"] = f.description
        properties[f.key] = prop
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "additionalProperties": False},
        },
    }


__all__ = [
    "CompiledSchema",
    "FIELD_TYPES",
    "Field",
    "build_compiled",
    "clear_cache",
    "compile_state_schema",
    "compiled_for_version",
    "tool_definition",
]
