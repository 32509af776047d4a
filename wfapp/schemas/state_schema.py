"""state_schema: the compact form authors write, or a full JSON Schema (Draft 2020-12).

Compact form, one entry per field, in the order of the questions:
    {"amount": {"type": "number", "required": true, "minimum": 1000, "title": "Loan amount"}}

Full JSON Schema: any schema object whose root accepts objects, with `$schema` (2020-12 only),
`$id`, `$defs` and local `$ref`, allOf/anyOf/oneOf/not, if/then/else, dependentRequired, ...

Which one a state_schema is (`is_full_schema`): it is a full JSON Schema when it has `$schema`, or
when one of its root keys is a JSON Schema keyword whose value is not a compact field spec (an
object whose keys are all compact settings and whose `type`, if any, is a compact type). So
`{"type": "object", ...}`, `{"required": [...]}`, `{"allOf": [...]}` are full schemas, while
`{"title": {"type": "string"}, "type": {"type": "enum", "choices": [...]}}` stays a compact form
with fields named "title" and "type". Add `$schema` to make an ambiguous schema a full one.

Both compile to one schema, checked against the metaschema when a version is saved and compiled
into one validator per version, cached. Merges judge each field present on its own (its property
subschema, patternProperties, additionalProperties, following $ref and allOf); keywords about the
whole object (required, minProperties, dependentRequired, oneOf, if/then, unevaluatedProperties,
...) are judged at completion, and `CompiledSchema.outstanding` says what they still require.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from wfapp.errors import SchemaError
from wfapp.schemas import regex
from wfapp.schemas.formats import FORMAT_CHECKER
from wfapp.schemas.nesting import MAX_NESTING, nesting_depth
from wfapp.schemas.refs import check_refs, root_resolver, subschemas

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
COMPACT_KEYS = frozenset(("type", "required", "sensitive", "choices", "items", "escalate_after", *PASS_THROUGH))
# A field's own limit of refused writes before the conversation escalates (wfapp.services.conversation).
ESCALATE_AFTER = "x-wfapp-escalate-after"
WFAPP_TYPE = "x-wfapp-type"
# Top-level keywords of a state schema that judge each field on its own (no minProperties,
# dependentRequired, $defs to refer to, ...).
FIELD_WISE_KEYWORDS = frozenset(
    {"$schema", "$id", "$comment", "type", "title", "description", "properties", "required", "additionalProperties"}
)
SENSITIVE = "x-sensitive"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# The keywords of JSON Schema 2020-12 (core, applicator, unevaluated, validation, meta-data,
# format, content vocabularies): a root key among them may make a state_schema a full schema.
SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$anchor", "$dynamicAnchor", "$ref", "$dynamicRef", "$defs", "$comment",
        "$vocabulary", "definitions", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
        "dependentSchemas", "prefixItems", "items", "contains", "properties", "patternProperties",
        "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties", "type",
        "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains",
        "minContains", "maxProperties", "minProperties", "required", "dependentRequired", "title",
        "description", "default", "deprecated", "readOnly", "writeOnly", "examples", "format",
        "contentEncoding", "contentMediaType", "contentSchema",
    }
)  # fmt: skip

StateValidator = validators.extend(Draft202012Validator, regex.KEYWORDS)
# Remote $refs are never fetched: an empty registry without a retriever.
EMPTY_REGISTRY: Registry = Registry()


def _is_compact_spec(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= COMPACT_KEYS
        and (value.get("type", "string") in FIELD_TYPES if isinstance(value.get("type", "string"), str) else False)
    )


def is_full_schema(state_schema: Any) -> bool:
    """Whether a state_schema is a full JSON Schema (rule in the module's docstring)."""
    if not isinstance(state_schema, dict):
        return False
    if "$schema" in state_schema:
        return True
    return any(k in SCHEMA_KEYWORDS and not _is_compact_spec(v) for k, v in state_schema.items())


def compile_state_schema(state_schema: Any) -> dict[str, Any]:
    """Compile the authored state_schema (compact or full) to a JSON Schema; raise SchemaError."""
    errors: list[dict[str, str]] = []
    if not isinstance(state_schema, dict):
        raise SchemaError([{"path": "/state_schema", "message": "must be an object of fields or a JSON Schema"}])
    if nesting_depth(state_schema) > MAX_NESTING:
        raise SchemaError([{"path": "/state_schema", "message": f"nests deeper than {MAX_NESTING} levels"}])
    if is_full_schema(state_schema):
        schema = copy.deepcopy(state_schema)
        _check_root(schema, errors)
        if errors:
            raise SchemaError(errors)
        schema.setdefault("$schema", DRAFT_2020_12)
    else:
        schema = {
            "$schema": DRAFT_2020_12,
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


def _check_root(schema: dict[str, Any], errors: list[dict[str, str]]) -> None:
    dialect = schema.get("$schema")
    if dialect is not None and (not isinstance(dialect, str) or dialect.rstrip("#") != DRAFT_2020_12):
        errors.append(
            {
                "path": "/state_schema/$schema",
                "message": f"only JSON Schema draft 2020-12 ({DRAFT_2020_12}) is supported, not {dialect!r}",
            }
        )
    types = schema.get("type")
    _nested_dialects(schema, "/state_schema", errors)
    if types is not None and "object" not in (types if isinstance(types, list) else [types]):
        errors.append(
            {"path": "/state_schema/type", "message": 'the root of a state_schema must accept objects (type "object")'}
        )


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
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and _is_number(lo) and _is_number(hi) and lo > hi:
        errors.append({"path": f"{path}/minimum", "message": f"minimum {lo} is above maximum {hi}"})
    lo, hi = spec.get("minLength"), spec.get("maxLength")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        errors.append({"path": f"{path}/minLength", "message": f"minLength {lo} is above maxLength {hi}"})
    prop[WFAPP_TYPE] = ftype
    if spec.get("sensitive"):
        prop[SENSITIVE] = True
    if "escalate_after" in spec:
        prop[ESCALATE_AFTER] = spec["escalate_after"]
    return prop


def _is_number(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _authored_path(schema_path: Iterable[Any], authored_full: bool) -> str:
    """Where in the authored state_schema a metaschema error points."""
    parts = list(schema_path)
    if not authored_full and len(parts) >= 2 and parts[0] == "properties":
        parts = parts[1:]
    return "/state_schema" + "".join(f"/{_escape(str(p))}" for p in parts)


def _meta_message(err: ValidationError) -> str:
    if err.validator == "format" and err.validator_value == "regex" and isinstance(err.instance, str):
        why = regex.compile_error(err.instance) or "not a regular expression"
        return (
            f"{err.instance!r} is not a regular expression that runs in linear time (RE2 syntax: no "
            f"backreferences or lookarounds): {why}"
        )
    if err.validator == "propertyNames" or (err.validator == "format" and err.validator_value == "regex"):
        return f"{err.message} (patternProperties keys are RE2 regular expressions)"
    return err.message


def _check_schema(schema: dict[str, Any], authored: dict[str, Any]) -> None:
    full = is_full_schema(authored)
    errors = []
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=FORMAT_CHECKER)
    for err in meta.iter_errors(schema):
        errors.append({"path": _authored_path(err.absolute_path, full), "message": _meta_message(err)})
    if errors:
        raise SchemaError(errors)
    # Every $ref must resolve inside the schema, and the schema expanded along them stay small.
    errors = check_refs(schema, "/state_schema")
    if errors:
        raise SchemaError(errors)
    compiled = build_compiled(schema)
    # Every default/example must satisfy its field.
    for f in compiled.fields:
        path = _field_path(f.key, full)
        prop = f.schema
        if "default" in prop:
            for e in compiled.value_errors(f.key, prop["default"]):
                errors.append({"path": f"{path}/default", "message": f"default is invalid: {e['message']}"})
        for i, example in enumerate(prop.get("examples") or []):
            for e in compiled.value_errors(f.key, example):
                errors.append({"path": f"{path}/examples/{i}", "message": f"example is invalid: {e['message']}"})
    if errors:
        raise SchemaError(errors)
    # A $ref that refers to itself without end would fail every later validation: try once now.
    samples: list[tuple[str, Any]] = [("", {})]
    blanks: tuple[Any, ...] = (None, 0, "", [], {})
    samples.extend((f.key, sample) for f in compiled.fields for sample in blanks)
    for key, sample in samples:
        try:
            list(compiled.validator.iter_errors(sample if not key else {key: sample}))
        except RecursionError:
            errors.append(
                {
                    "path": _field_path(key, full) if key else "/state_schema",
                    "message": "a $ref refers to itself without end",
                }
            )
            break
        except Unresolvable as exc:  # pragma: no cover - check_refs resolves them all first
            errors.append({"path": "/state_schema", "message": f"a $ref cannot be resolved: {exc}"})
            break
    if errors:
        raise SchemaError(errors)


def _field_path(key: str, full: bool) -> str:
    return f"/state_schema/properties/{_escape(key)}" if full else f"/state_schema/{_escape(key)}"


def _walk_properties(schema: dict[str, Any]):
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            yield key, prop


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


# Root keywords that judge the object as a whole: judged at completion, not by merges.
WHOLE_OBJECT_KEYWORDS = frozenset(
    {
        "required", "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "allOf",
        "anyOf", "oneOf", "not", "if", "then", "else", "unevaluatedProperties", "propertyNames", "$ref",
        "$dynamicRef", "enum", "const",
    }
)  # fmt: skip


@dataclass
class CompiledSchema:
    schema: dict[str, Any]
    validator: Any
    partial_validator: Any
    fields: list[Field]
    # keys of state_data that hold the answer of a sensitive dependency (its `store_as`)
    sensitive_answers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # The schemas that apply to the object unconditionally: the root, and what its $ref and
        # allOf reach. Their properties/patternProperties/additionalProperties judge each key alone.
        self._layers = _object_layers(self.validator)

    @property
    def required(self) -> list[str]:
        return [f.key for f in self.fields if f.required]

    @property
    def is_field_wise(self) -> bool:
        """True when every top-level keyword concerns one field at a time."""
        return set(self.schema) <= FIELD_WISE_KEYWORDS

    def value_errors(self, key: str, value: Any) -> list[dict[str, Any]]:
        """Errors of one field's value, judged on its own (as a merge judges it)."""
        found: list[ValidationError] = []
        for layer in self._layers:
            node = layer.schema
            props: dict[str, Any] = node["properties"] if isinstance(node.get("properties"), dict) else {}
            matched = key in props
            if matched:
                found.extend(_descend(layer, value, props[key], key))
            for patrn, sub in (node.get("patternProperties") or {}).items():
                if regex.search(patrn, key):
                    matched = True
                    found.extend(_descend(layer, value, sub, key))
            if not matched and "additionalProperties" in node:
                found.extend(_descend(layer, value, node["additionalProperties"], key))
        return _errors_of(found, {key: value}, _non_finite(value, [key]))

    def validate_merge(self, new_state: dict[str, Any], touched: Iterable[str]) -> list[dict[str, str]]:
        """Errors of the touched fields, each judged on its own; keywords about the whole object
        (required, minProperties, oneOf, ...) are judged at completion (see `outstanding`)."""
        out: list[dict[str, Any]] = []
        for key in touched:
            if key in new_state:
                out.extend(self.value_errors(key, new_state[key]))
        return _dedupe(sorted(out, key=lambda e: e["path"]))

    def validate_complete(self, state: dict[str, Any]) -> list[dict[str, str]]:
        return _errors(self.validator, state)

    def outstanding(self, state: dict[str, Any]) -> list[dict[str, str]]:
        """What the keywords about the whole object still require of `state`:
        [{"path", "message", "keyword"}], e.g. a field required by dependentRequired or if/then
        (named with its condition), a minProperties not yet reached, a oneOf not yet satisfied."""
        out: list[dict[str, str]] = []
        try:
            found = [e for e in self.validator.iter_errors(state) if not e.absolute_path]
        except (Unresolvable, RecursionError):
            return [{"path": "/state_data", "message": "cannot be checked", "keyword": "$ref"}]
        for err in found:
            keyword = str(err.validator)
            cond = _condition(self, list(err.relative_schema_path))
            if keyword == "required":
                for key in err.validator_value:
                    if key not in state:
                        msg = f"is required when {cond}" if cond else "is required"
                        out.append({"path": f"/state_data/{_escape(key)}", "message": msg, "keyword": keyword})
            elif keyword == "dependentRequired":
                for trigger, needed in err.validator_value.items():
                    if trigger in state:
                        for key in needed:
                            if key not in state:
                                msg = f"is required when {trigger} is given" + (f" and {cond}" if cond else "")
                                out.append({"path": f"/state_data/{_escape(key)}", "message": msg, "keyword": keyword})
            else:
                msg = _message(err) + (f" (when {cond})" if cond else "")
                out.append({"path": "/state_data", "message": msg, "keyword": keyword})
        return _dedupe(out)

    def admits_null(self, key: str) -> bool:
        """Whether the field `key` may hold null (its schema admits null)."""
        return not self.value_errors(key, None)

    def defaults(self) -> dict[str, Any]:
        return {f.key: copy.deepcopy(f.schema["default"]) for f in self.fields if "default" in f.schema}

    def missing(self, state: dict[str, Any]) -> list[Field]:
        return [f for f in self.fields if state.get(f.key) in (None, "", [])]


@dataclass
class _Layer:
    schema: dict[str, Any]
    validator: Any  # evolved to the layer's schema, with its resolver (base URI)


def _object_layers(validator) -> list[_Layer]:
    out: list[_Layer] = []
    seen: set[int] = set()

    def visit(node: Any, resolver) -> None:
        if not isinstance(node, dict) or id(node) in seen or len(out) > 256:
            return
        seen.add(id(node))
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        out.append(_Layer(node, validator.evolve(schema=node, _resolver=resolver)))
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                pass
            else:
                visit(resolved.contents, resolved.resolver)
        for sub in node.get("allOf") or []:
            visit(sub, resolver)

    visit(validator.schema, validator._resolver)
    return out


def _descend(layer: _Layer, value: Any, sub: Any, key: str) -> list[ValidationError]:
    if sub is False:
        return [ValidationError("is not allowed here", validator="false", path=[key], instance=value)]
    try:
        return list(layer.validator.descend(value, sub, path=key))
    except (Unresolvable, RecursionError):
        return [ValidationError("cannot be checked against the schema", validator="$ref", path=[key])]


def _condition(compiled: CompiledSchema, schema_path: list[Any]) -> str:
    """The if-condition under which an error's keyword applies, in words ('' when none)."""
    node: Any = compiled.schema
    conds = []
    for part in schema_path:
        if not isinstance(node, dict):
            break
        if part in ("then", "else") and "if" in node:
            words = _describe(node["if"])
            conds.append(words if part == "then" else f"not ({words})")
        if part == "dependentSchemas":
            pass
        elif isinstance(node.get("dependentSchemas"), dict) and part in node["dependentSchemas"]:
            conds.append(f"{part} is given")
        if part == "$ref" and isinstance(node.get("$ref"), str):
            try:
                node = root_resolver(compiled.schema).lookup(node["$ref"]).contents
            except Unresolvable:
                break
            continue
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list):
            break
    return " and ".join(conds)


def _describe(cond: Any) -> str:
    if not isinstance(cond, dict):
        return "always" if cond else "never"
    parts = []
    for key, sub in (cond.get("properties") or {}).items():
        if isinstance(sub, dict) and "const" in sub:
            parts.append(f"{key} is {sub['const']!r}")
        elif isinstance(sub, dict) and "enum" in sub:
            parts.append(f"{key} is one of {', '.join(map(repr, sub['enum']))}")
        else:
            parts.append(
                f"{key} matches {sub!r}" if isinstance(sub, dict) and len(repr(sub)) < 80 else f"{key} matches"
            )
    parts.extend(f"{key} is given" for key in cond.get("required") or [])
    return " and ".join(parts) or "the schema's condition holds"


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
    try:
        found = list(validator.iter_errors(instance))
    except (Unresolvable, RecursionError):
        # a schema saved before such schemas were refused, or data nested beyond evaluation
        return [
            {
                "path": "/state_data",
                "message": "cannot be checked against the workflow template's schema",
                "field": None,
            }
        ]
    return _errors_of(found, instance, _non_finite(instance, []))


def _errors_of(found: list[ValidationError], instance: Any, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for err in sorted(found, key=lambda e: list(map(str, e.absolute_path))):
        path = list(err.absolute_path)
        if err.validator == "required" and not path:
            # "'amount' is a required property" -> point at the field itself
            missing = [k for k in err.validator_value if k not in instance]
            for key in missing:
                out.append({"path": f"/state_data/{_escape(key)}", "message": "is required", "field": key})
            continue
        if err.validator == "dependentRequired" and not path and isinstance(instance, dict):
            for trigger, needed in err.validator_value.items():
                for key in needed if trigger in instance else []:
                    if key not in instance:
                        msg = f"is required when {trigger} is given"
                        out.append({"path": f"/state_data/{_escape(key)}", "message": msg, "field": key})
            continue
        field = str(path[0]) if path else None
        out.append(
            {
                "path": "/state_data" + "".join(f"/{_escape(str(p))}" for p in path),
                "message": _message(err),
                "field": field,
            }
        )
    return _dedupe(out)


def _dedupe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, result = set(), []
    for e in errors:
        k = (e["path"], e["message"])
        if k not in seen:
            seen.add(k)
            result.append(e)
    return result


def _alternatives(err: ValidationError) -> str:
    """'email, or phone' for a oneOf/anyOf of required lists."""
    options = err.validator_value if isinstance(err.validator_value, list) else []
    names = []
    for alt in options:
        if not (isinstance(alt, dict) and set(alt) == {"required"}):
            return ""
        names.append(" and ".join(map(str, alt["required"])))
    return ", or ".join(names)


def _message(err: ValidationError) -> str:
    if err.validator == "format":
        return f"is not a valid {err.validator_value}"
    if err.validator == "pattern" and isinstance(err.schema, dict) and err.schema.get(WFAPP_TYPE) == "phone":
        return "is not a valid phone number"
    if not err.absolute_path and isinstance(err.instance, dict):
        # about the whole state: say what it needs without echoing the (possibly personal) data
        value = err.validator_value
        if err.validator == "minProperties":
            return f"needs at least {value} field(s)"
        if err.validator == "maxProperties":
            return f"may hold at most {value} field(s)"
        if err.validator in ("oneOf", "anyOf"):
            alts = _alternatives(err)
            if err.validator == "oneOf" and err.context == [] and alts:
                return f"must give exactly one of: {alts}"
            if alts:
                return f"needs one of: {alts}" + (" (not several)" if err.validator == "oneOf" else "")
            return (
                "must match " + ("exactly one" if err.validator == "oneOf" else "at least one") + " of its alternatives"
            )
        if err.validator == "not":
            return "matches a combination of fields the schema forbids"
        if err.validator == "dependentRequired":
            return err.message
        if err.validator in ("enum", "const"):
            return f"does not match the schema's {err.validator}"
        if err.validator == "type":
            return err.message
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


def _without_dialect(schema: Any) -> Any:
    """A copy without `$schema` keys: jsonschema switches a subschema that names its dialect to
    its standard validator class, which would run patterns with Python's backtracking re. The
    dialect is 2020-12 throughout (checked when saved)."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "$schema"}
    for parts, sub in subschemas(schema):
        if len(parts) == 1:
            out[parts[0]] = _without_dialect(sub)
        else:
            kw, name = parts
            if out[kw] is schema[kw]:
                out[kw] = dict(schema[kw]) if isinstance(schema[kw], dict) else list(schema[kw])
            out[kw][name] = _without_dialect(sub)
    return out


def _nested_dialects(schema: Any, path: str, errors: list[dict[str, str]]) -> None:
    for parts, sub in subschemas(schema) if isinstance(schema, dict) else ():
        where = path + "".join(f"/{_escape(str(p))}" for p in parts)
        dialect = sub.get("$schema") if isinstance(sub, dict) else None
        if dialect is not None and (not isinstance(dialect, str) or dialect.rstrip("#") != DRAFT_2020_12):
            errors.append(
                {"path": f"{where}/$schema", "message": f"only JSON Schema draft 2020-12 is supported, not {dialect!r}"}
            )
        _nested_dialects(sub, where, errors)


def build_compiled(schema: dict[str, Any]) -> CompiledSchema:
    partial = _without_dialect({k: v for k, v in schema.items() if k not in WHOLE_OBJECT_KEYWORDS})
    validator = StateValidator(_without_dialect(schema), format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY)
    layers = _object_layers(validator)
    required: set[str] = set()
    props: dict[str, dict[str, Any]] = {}
    for layer in layers:
        if isinstance(layer.schema.get("required"), list):
            required.update(layer.schema["required"])
        for key, prop in _walk_properties(layer.schema):
            props.setdefault(key, _deref(layer, prop))
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
        for key, prop in props.items()
    ]
    return CompiledSchema(
        schema=schema,
        validator=validator,
        partial_validator=StateValidator(partial, format_checker=FORMAT_CHECKER, registry=EMPTY_REGISTRY),
        fields=fields,
    )


def _deref(layer: _Layer, prop: dict[str, Any]) -> dict[str, Any]:
    """A property schema with its own $ref chain followed (for forms and the LLM context)."""
    resolver = layer.validator._resolver
    for _ in range(8):
        ref = prop.get("$ref")
        if not isinstance(ref, str):
            break
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            break
        if not isinstance(resolved.contents, dict) or "$ref" in resolved.contents and resolved.contents is prop:
            break
        resolver = resolved.resolver
        prop = {**resolved.contents, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


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


def sensitive_answer_keys(deps: Any, sensitive_fields: frozenset[str]) -> frozenset[str]:
    """The `store_as` keys of the sensitive dependencies among `deps`."""
    from wfapp.schemas.definitions import dependency_is_sensitive

    return frozenset(
        d["store_as"]
        for d in deps or []
        if isinstance(d, dict) and d.get("store_as") and dependency_is_sensitive(d, sensitive_fields)
    )


def compiled_for_version(version) -> CompiledSchema:
    """The compiled schema of a template version: built once per version and cached (versions
    are immutable, so the id is a sound key)."""
    cached = _cache.get(version.id)
    if cached is not None:
        return cached
    compiled = build_compiled(compile_state_schema(version.state_schema))
    compiled.sensitive_answers = sensitive_answer_keys(
        getattr(version, "workflow_dependencies", None), frozenset(f.key for f in compiled.fields if f.sensitive)
    )
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[version.id] = compiled
    return compiled


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


__all__ = [
    "CompiledSchema",
    "FIELD_TYPES",
    "Field",
    "build_compiled",
    "clear_cache",
    "compile_state_schema",
    "compiled_for_version",
]
