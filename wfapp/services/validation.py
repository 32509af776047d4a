"""Validating documents against JSON Schemas, errors as [{"path", "message"}]."""

from typing import Any

from jsonschema import Draft202012Validator

from wfapp.errors import ValidationFailed
from wfapp.schemas.nesting import MAX_NESTING, nesting_depth

_validators: dict[int, Draft202012Validator] = {}


def _hostile(text: str, controls: bool, allow: str = "\t\r\n") -> str | None:
    """What makes a string unfit to store or log: a NUL (PostgreSQL refuses it in text and
    JSONB, and it cuts C strings short), a lone surrogate (not encodable as UTF-8) and, with
    `controls`, any other control character but those in `allow` (tab, CR and LF)."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (such as \\ud800), which is not text"
    if controls and any(ord(c) < 32 and c not in allow or ord(c) == 127 for c in text):
        return "holds a control character"
    return None


def _pointer_part(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def hostile_text(
    value: Any, path: str = "", *, controls: bool = False, allow: str = "\t\r\n"
) -> tuple[str, str] | None:
    """The first string (value or object key, at any depth) that holds a NUL or a lone surrogate
    (with `controls`, another control character too): its JSON pointer and what is wrong with
    it; None when there is none. Paths name the offending key with a pointer that itself holds
    no such character."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            why = _hostile(item, controls, allow)
            if why:
                return where or "/", why
        elif isinstance(item, dict):
            for k, v in item.items():
                why = _hostile(str(k), controls, allow)
                if why:
                    return where or "/", f"a key {why}"
                stack.append((v, f"{where}/{_pointer_part(k)}"))
        elif isinstance(item, list):
            stack.extend((v, f"{where}/{i}") for i, v in enumerate(item))
    return None


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
