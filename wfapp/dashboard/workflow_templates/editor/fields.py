"""Codec of the form builder: a compact state_schema <-> builder rows.

A row is a dict of texts named like the inputs ``f-<i>-<attr>`` (see ROW_ATTRS). A schema the
rows cannot show exactly (a full JSON Schema, settings the builder has no input for, non-text
choices) has no rows: the editor keeps it as raw JSON.
"""

from __future__ import annotations

from typing import Any

from wfapp.dashboard.workflow_templates.editor.text import parse_number, scalar_text
from wfapp.schemas.state_schema import FIELD_TYPES

Row = dict[str, str]
RowErrors = dict[int, dict[str, list[str]]]

TYPE_LABELS = {
    "string": "Short text",
    "text": "Long text",
    "number": "Number",
    "integer": "Whole number",
    "boolean": "Yes / no",
    "enum": "Choice",
    "date": "Date",
    "email": "Email",
    "phone": "Phone",
    "array": "List of texts",
}
CONSTRAINTS = {
    "string": ("minLength", "maxLength", "pattern", "default", "examples"),
    "text": ("minLength", "maxLength", "pattern", "default", "examples"),
    "number": ("minimum", "maximum", "default", "examples"),
    "integer": ("minimum", "maximum", "default", "examples"),
    "boolean": ("default",),
    "enum": ("choices", "default"),
    "date": ("default", "examples"),
    "email": ("maxLength", "default", "examples"),
    "phone": ("default", "examples"),
    "array": ("minItems", "maxItems"),
}
CONSTRAINT_LABELS = {
    "minimum": "Minimum",
    "maximum": "Maximum",
    "minLength": "Min length",
    "maxLength": "Max length",
    "pattern": "Pattern (RE2)",
    "choices": "Choices (one per line)",
    "default": "Default",
    "examples": "Examples (one per line)",
    "minItems": "Min items",
    "maxItems": "Max items",
}
ROW_ATTRS = ("key", "title", "type", "required", "sensitive", "description", *CONSTRAINT_LABELS)
ERROR_LABELS = dict(
    CONSTRAINT_LABELS, key="Key", type="Type", title="Title", description="Description", required="Required"
)
NUMBER_ATTRS = ("minimum", "maximum")
COUNT_ATTRS = ("minLength", "maxLength", "minItems", "maxItems")
COMMON_KEYS = frozenset(("type", "required", "sensitive", "title", "description"))
STRING_ITEMS = {"type": "string"}


def blank_row() -> Row:
    row = {a: "" for a in ROW_ATTRS}
    row["type"] = "string"
    return row


# ---------------------------------------------------------------- schema -> rows


def rows_from_schema(schema: Any) -> list[Row] | None:
    """Builder rows for a compact state_schema, or None when only raw JSON can show it."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        return None
    rows = []
    for key, spec in schema.items():
        row = _row_from_spec(key, spec)
        if row is None:
            return None
        rows.append(row)
    return rows


def _builder_keys(ftype: str) -> frozenset[str]:
    keys = COMMON_KEYS | set(CONSTRAINTS[ftype])
    if ftype == "enum":
        keys |= {"enum"}
    if ftype == "array":
        keys |= {"items"}
    return keys


def _row_from_spec(key: str, spec: Any) -> Row | None:
    if not isinstance(spec, dict):
        return None
    ftype = spec.get("type", "string")
    if ftype not in FIELD_TYPES or set(spec) - _builder_keys(ftype):
        return None
    if "items" in spec and spec["items"] != STRING_ITEMS:
        return None
    if any(not isinstance(spec.get(a, ""), str) for a in ("title", "description", "pattern")):
        return None
    choices = spec.get("choices", spec.get("enum"))
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        return None
    examples = spec.get("examples")
    if examples is not None and (not isinstance(examples, list) or any(isinstance(e, (dict, list)) for e in examples)):
        return None
    if isinstance(spec.get("default"), (dict, list)):
        return None
    row = {a: "" for a in ROW_ATTRS}
    row.update(
        key=key,
        type=ftype,
        title=spec.get("title") or "",
        description=spec.get("description") or "",
        required="true" if spec.get("required") else "",
        sensitive="true" if spec.get("sensitive") else "",
    )
    for a in NUMBER_ATTRS + COUNT_ATTRS + ("pattern",):
        if a in spec:
            row[a] = scalar_text(spec[a])
    if choices is not None:
        row["choices"] = "\n".join(choices)
    if "default" in spec:
        row["default"] = scalar_text(spec["default"])
    if examples:
        row["examples"] = "\n".join(scalar_text(e) for e in examples)
    return row


# ---------------------------------------------------------------- rows -> schema


def schema_from_rows(rows: list[Row], lenient: bool = False) -> tuple[dict[str, Any], RowErrors]:
    """The compact state_schema of the builder rows, and the form's mistakes by row and input.
    A row with a mistake in its key is left out; ``lenient`` keeps a choice field without
    choices out silently (while switching to raw JSON)."""
    schema: dict[str, Any] = {}
    errors: RowErrors = {}
    first_row: dict[str, int] = {}
    for i, row in enumerate(rows):
        mistakes = errors.setdefault(i, {})
        key = row["key"].strip()
        if not key:
            mistakes["key"] = ["give the field a key, such as amount"]
        elif key in first_row:
            mistakes["key"] = [f"duplicate key {key!r}: field {first_row[key] + 1} has it already"]
        else:
            first_row[key] = i
            spec = _spec_from_row(row, mistakes)
            if spec.get("type") == "enum" and "choices" not in spec:
                if not lenient:
                    mistakes.setdefault("choices", []).append("a choice field needs at least one choice")
            else:
                schema[key] = spec
        if not mistakes:
            del errors[i]
    return schema, errors


def _spec_from_row(row: Row, mistakes: dict[str, list[str]]) -> dict[str, Any]:
    ftype = row["type"] if row["type"] in FIELD_TYPES else "string"
    spec: dict[str, Any] = {"type": ftype}
    if row["title"].strip():
        spec["title"] = row["title"].strip()
    if row["required"]:
        spec["required"] = True
    if row["description"].strip():
        spec["description"] = row["description"].strip()
    if row["sensitive"]:
        spec["sensitive"] = True
    for attr in CONSTRAINTS[ftype]:
        text = row.get(attr, "")
        if text.strip() == "":
            continue
        try:
            spec[attr] = _constraint(attr, text, ftype)
        except ValueError:
            mistakes.setdefault(attr, []).append(f"{CONSTRAINT_LABELS[attr]} must be {_expected(attr, ftype)}")
    return spec


def _constraint(attr: str, text: str, ftype: str) -> Any:
    if attr in NUMBER_ATTRS:
        return parse_number(text, ftype == "integer")
    if attr in COUNT_ATTRS:
        n = int(text.strip())
        if n < 0:
            raise ValueError(text)
        return n
    if attr == "choices":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if attr == "default":
        return _typed(text, ftype)
    if attr == "examples":
        return [_typed(line.strip(), ftype) for line in text.splitlines() if line.strip()]
    return text  # pattern


def _expected(attr: str, ftype: str) -> str:
    if attr in COUNT_ATTRS:
        return "a whole number of 0 or more"
    return {"integer": "a whole number", "number": "a number"}.get(ftype, "true or false")


def _typed(text: str, ftype: str) -> Any:
    """A default or example typed in a text box, as the field's JSON type."""
    if ftype in ("number", "integer"):
        return parse_number(text, ftype == "integer")
    if ftype == "boolean":
        if text.strip().lower() in ("true", "yes", "1"):
            return True
        if text.strip().lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    return text


def error_attr(parts: list[str]) -> str:
    """The input of a row that a service error names (``parts`` follow the field's key)."""
    attr = parts[0] if parts else "key"
    attr = {"enum": "choices"}.get(attr, attr)
    return attr if attr in ROW_ATTRS else "key"
