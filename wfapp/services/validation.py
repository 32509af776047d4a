"""Validating documents against JSON Schemas, errors as [{"path", "message"}]."""

from typing import Any

from jsonschema import Draft202012Validator

from wfapp.errors import ValidationFailed
from wfapp.schemas.nesting import MAX_NESTING, nesting_depth

_validators: dict[int, Draft202012Validator] = {}


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """One validator per schema object (request schemas are module-level constants)."""
    v = _validators.get(id(schema))
    if v is None or v.schema is not schema:
        v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[id(schema)] = v
    return v


def json_pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def schema_errors(schema: dict[str, Any], instance: Any, prefix: str = "") -> list[dict[str, str]]:
    if nesting_depth(instance) > MAX_NESTING:
        return [{"path": prefix or "/", "message": f"nests deeper than {MAX_NESTING} levels"}]
    errors = []
    for err in validator_for(schema).iter_errors(instance):
        # report the most specific reason of a oneOf/anyOf failure
        best = err
        if err.context:
            best = min(err.context, key=lambda e: (-len(e.absolute_path), len(e.message)))
        path = list(err.absolute_path) if not best.absolute_path else list(best.absolute_path)
        if best.validator == "required" and best is not err:
            path = list(best.absolute_path)
        if best.validator == "additionalProperties":
            extra = [k for k in (best.instance or {}) if k not in best.schema.get("properties", {})]
            if extra:
                path = path + [extra[0]]
                errors.append({"path": prefix + json_pointer(path), "message": f"unknown property {extra[0]!r}"})
                continue
        if best.validator == "required":
            missing = [k for k in best.validator_value if k not in (best.instance or {})]
            for k in missing:
                errors.append({"path": prefix + json_pointer(path + [k]), "message": "is required"})
            continue
        errors.append({"path": prefix + json_pointer(path), "message": best.message})
    return errors


def check(schema: dict[str, Any], instance: Any, prefix: str = "", detail: str = "") -> None:
    errors = schema_errors(schema, instance, prefix)
    if errors:
        raise ValidationFailed(detail or errors[0]["path"] + ": " + errors[0]["message"], errors)
