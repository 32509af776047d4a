"""The workflow template editor's form: builder rows <-> the definition the services take.

The editor is one HTML form. Builder fields are rows named ``f-<i>-<attr>``, dependencies
``d-<i>-<attr>``, the end action ``ea-<attr>``; each section can switch to a raw JSON textarea.
Parsing collects mistakes of the form itself (a duplicate key, a number that is not a number,
JSON that does not parse); everything else is checked by the services the API uses
(wfapp.services.workflow_templates.validate_definition and the API's request schemas), and their
errors are routed back beside the row and input they name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from wfapp.schemas.definitions import END_ACTION_TYPES
from wfapp.schemas.state_schema import FIELD_TYPES

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
NUMBER_ATTRS = ("minimum", "maximum")
COUNT_ATTRS = ("minLength", "maxLength", "minItems", "maxItems")
BUILDER_KEYS = {
    "type",
    "required",
    "sensitive",
    "title",
    "description",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "choices",
    "enum",
    "default",
    "examples",
    "minItems",
    "maxItems",
    "items",
}

DEP_ATTRS = (
    "name",
    "type",
    "when",
    "when_fields",
    "endpoint",
    "method",
    "headers",
    "body",
    "timeout_s",
    "template",
    "success_path",
    "success_values",
    "store_as",
    "failure_action",
    "max_attempts",
    "failure_message",
    "description",
)
DEP_KEYS = {
    "name",
    "type",
    "when",
    "api",
    "template",
    "success_path",
    "success_values",
    "store_as",
    "on_failure",
    "description",
}
HTTP_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
FAILURE_ACTIONS = ("fail", "retry", "wait", "continue")
EA_ATTRS = ("endpoint", "method", "headers", "timeout_s", "template")
_INDEXED = re.compile(r"^(f|d)-(\d+)-key$|^(d)-(\d+)-name$")


class NameForm(FlaskForm):
    """Clone: the new workflow template's name."""

    name = StringField("New name", validators=[DataRequired(), Length(max=100)])


@dataclass
class EditorState:
    is_new: bool
    name: str = ""
    category: str = ""
    description: str = ""
    guidelines: str = ""
    change_note: str = ""
    schema_mode: str = "builder"
    rows: list[dict[str, str]] = field(default_factory=list)
    schema_json: str = "{}"
    deps_mode: str = "builder"
    dep_rows: list[dict[str, str]] = field(default_factory=list)
    deps_json: str = "[]"
    ea_mode: str = "builder"
    ea_type: str = "none"
    ea: dict[str, str] = field(default_factory=dict)
    ea_json: str = "null"
    # errors
    general: dict[str, list[str]] = field(default_factory=dict)  # name, category, ... , "" = other
    row_errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)  # raw mode
    dep_errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    deps_errors: list[str] = field(default_factory=list)  # raw mode / whole list
    ea_errors: dict[str, list[str]] = field(default_factory=dict)  # type, endpoint, ..., "" = raw/other

    @property
    def has_errors(self) -> bool:
        return bool(
            self.general
            or self.row_errors
            or self.schema_errors
            or self.dep_errors
            or self.deps_errors
            or self.ea_errors
        )

    def error_count(self) -> int:
        n = sum(len(v) for v in self.general.values()) + len(self.schema_errors) + len(self.deps_errors)
        n += sum(len(m) for r in self.row_errors.values() for m in r.values())
        n += sum(len(m) for r in self.dep_errors.values() for m in r.values())
        n += sum(len(m) for m in self.ea_errors.values())
        return n

    def add_row_error(self, i: int, attr: str, message: str) -> None:
        self.row_errors.setdefault(i, {}).setdefault(attr, []).append(message)

    def add_dep_error(self, i: int, attr: str, message: str) -> None:
        self.dep_errors.setdefault(i, {}).setdefault(attr, []).append(message)

    def clear_errors(self) -> None:
        self.general, self.row_errors, self.schema_errors = {}, {}, []
        self.dep_errors, self.deps_errors, self.ea_errors = {}, [], {}


# ---------------------------------------------------------------- reading the posted form


def _indexes(form, prefix: str, attr: str) -> list[int]:
    out = []
    for name in form:
        m = re.match(rf"^{prefix}-(\d+)-{attr}$", name)
        if m:
            out.append(int(m.group(1)))
    return sorted(set(out))


def state_from_form(form, is_new: bool) -> EditorState:
    s = EditorState(is_new=is_new)
    s.name = form.get("name", "").strip()
    s.category = form.get("category", "").strip()
    s.description = form.get("description", "")
    s.guidelines = form.get("guidelines", "")
    s.change_note = form.get("change_note", "")
    s.schema_mode = "raw" if form.get("schema_mode") == "raw" else "builder"
    s.deps_mode = "raw" if form.get("deps_mode") == "raw" else "builder"
    s.ea_mode = "raw" if form.get("ea_mode") == "raw" else "builder"
    s.rows = [{a: form.get(f"f-{i}-{a}", "") for a in ROW_ATTRS} for i in _indexes(form, "f", "type")]
    for row in s.rows:
        row["type"] = row["type"] or "string"
    s.schema_json = form.get("state_schema_json", "{}")
    s.dep_rows = [{a: form.get(f"d-{i}-{a}", "") for a in DEP_ATTRS} for i in _indexes(form, "d", "type")]
    s.deps_json = form.get("workflow_dependencies_json", "[]")
    s.ea_type = form.get("end_action_type", "none")
    s.ea = {a: form.get(f"ea-{a}", "") for a in EA_ATTRS}
    s.ea_json = form.get("end_action_target_json", "null")
    return s


def state_from_definition(
    is_new: bool, name: str = "", category: str = "", d: dict[str, Any] | None = None
) -> EditorState:
    d = d or {}
    s = EditorState(
        is_new=is_new,
        name=name,
        category=category or "",
        description=d.get("description") or "",
        guidelines=d.get("guidelines") or "",
    )
    schema = d.get("state_schema") or {}
    rows = compact_to_rows(schema)
    if rows is None:
        s.schema_mode, s.schema_json = "raw", json.dumps(schema, indent=2, ensure_ascii=False)
    else:
        s.rows = rows
    deps = d.get("workflow_dependencies") or []
    dep_rows = deps_to_rows(deps)
    if dep_rows is None:
        s.deps_mode, s.deps_json = "raw", json.dumps(deps, indent=2, ensure_ascii=False)
    else:
        s.dep_rows = dep_rows
    s.ea_type = d.get("end_action_type") or "none"
    target = d.get("end_action_target")
    ea = target_to_ea(target)
    if ea is None:
        s.ea_mode, s.ea_json = "raw", json.dumps(target, indent=2, ensure_ascii=False)
    else:
        s.ea = ea
    return s


# ---------------------------------------------------------------- builder rows <-> compact schema


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def compact_to_rows(schema: Any) -> list[dict[str, str]] | None:
    """Builder rows for a compact state_schema, or None when only raw JSON can show it."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        return None
    rows = []
    for key, spec in schema.items():
        if not isinstance(spec, dict) or set(spec) - BUILDER_KEYS:
            return None
        ftype = spec.get("type", "string")
        if ftype not in FIELD_TYPES:
            return None
        if "items" in spec and spec["items"] != {"type": "string"}:
            return None
        choices = spec.get("choices", spec.get("enum") if ftype == "enum" else None)
        if choices is not None and not all(isinstance(c, str) for c in choices):
            return None
        if "enum" in spec and ftype != "enum":
            return None
        examples = spec.get("examples")
        if examples is not None and (
            not isinstance(examples, list) or any(isinstance(e, (dict, list)) for e in examples)
        ):
            return None
        default = spec.get("default")
        if isinstance(default, (dict, list)):
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
                row[a] = _scalar_text(spec[a])
        if choices is not None:
            row["choices"] = "\n".join(choices)
        if "default" in spec:
            row["default"] = _scalar_text(default)
        if examples:
            row["examples"] = "\n".join(_scalar_text(e) for e in examples)
        rows.append(row)
    return rows


def _parse_number(text: str, integer: bool = False) -> Any:
    text = text.strip()
    if integer:
        return int(text)
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return int(value) if re.fullmatch(r"-?\d+", text) else value


def _typed(text: str, ftype: str) -> Any:
    """A default or example typed in a text box, as the field's JSON type."""
    if ftype in ("number", "integer"):
        return _parse_number(text, ftype == "integer")
    if ftype == "boolean":
        if text.strip().lower() in ("true", "yes", "1"):
            return True
        if text.strip().lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    return text


def rows_to_compact(state: EditorState, lenient: bool = False) -> dict[str, Any]:
    """The compact state_schema of the builder rows; form mistakes go to state.row_errors."""
    schema: dict[str, Any] = {}
    first_row: dict[str, int] = {}
    for i, row in enumerate(state.rows):
        key = row["key"].strip()
        if not key:
            state.add_row_error(i, "key", "give the field a key, such as amount")
            continue
        if key in first_row:
            state.add_row_error(i, "key", f"duplicate key {key!r}: field {first_row[key] + 1} has it already")
            continue
        first_row[key] = i
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
        allowed = CONSTRAINTS[ftype]
        for attr in allowed:
            text = row.get(attr, "")
            if text.strip() == "":
                continue
            try:
                if attr in NUMBER_ATTRS:
                    spec[attr] = _parse_number(text, ftype == "integer")
                elif attr in COUNT_ATTRS:
                    n = int(text.strip())
                    if n < 0:
                        raise ValueError(text)
                    spec[attr] = n
                elif attr == "pattern":
                    spec[attr] = text
                elif attr == "choices":
                    spec["choices"] = [line.strip() for line in text.splitlines() if line.strip()]
                elif attr == "default":
                    spec["default"] = _typed(text, ftype)
                elif attr == "examples":
                    spec["examples"] = [_typed(line.strip(), ftype) for line in text.splitlines() if line.strip()]
            except ValueError:
                what = {
                    "minLength": "a whole number of 0 or more",
                    "maxLength": "a whole number of 0 or more",
                    "minItems": "a whole number of 0 or more",
                    "maxItems": "a whole number of 0 or more",
                }.get(
                    attr,
                    "a whole number" if ftype == "integer" else "a number" if ftype == "number" else "true or false",
                )
                state.add_row_error(i, attr, f"{CONSTRAINT_LABELS[attr]} must be {what}")
        if ftype == "enum" and "choices" not in spec:
            if not lenient:
                state.add_row_error(i, "choices", "a choice field needs at least one choice")
            continue
        schema[key] = spec
    return schema


# ---------------------------------------------------------------- dependencies


def _headers_text(headers: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())


def _parse_headers(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"write each header as Name: value (line {line.strip()!r})")
        out[name.strip()] = value.strip()
    return out


def deps_to_rows(deps: Any) -> list[dict[str, str]] | None:
    if not isinstance(deps, list):
        return None
    rows = []
    for dep in deps:
        if not isinstance(dep, dict) or set(dep) - DEP_KEYS:
            return None
        row = {a: "" for a in DEP_ATTRS}
        row["name"] = str(dep.get("name", ""))
        row["type"] = dep.get("type", "api")
        when = dep.get("when", "on_start")
        if isinstance(when, dict):
            row["when"], row["when_fields"] = "fields", ", ".join(when.get("fields") or [])
        else:
            row["when"] = str(when)
        api = dep.get("api") or {}
        if not isinstance(api, dict):
            return None
        row["endpoint"] = api.get("endpoint", "")
        row["method"] = api.get("method", "POST")
        row["headers"] = _headers_text(api.get("headers"))
        row["body"] = json.dumps(api["body"], indent=2, ensure_ascii=False) if "body" in api else ""
        row["timeout_s"] = _scalar_text(api.get("timeout_s"))
        row["template"] = dep.get("template", "")
        row["success_path"] = dep.get("success_path", "")
        row["success_values"] = json.dumps(dep["success_values"], ensure_ascii=False) if "success_values" in dep else ""
        row["store_as"] = dep.get("store_as", "")
        on_failure = dep.get("on_failure") or {}
        row["failure_action"] = on_failure.get("action", "fail")
        row["max_attempts"] = _scalar_text(on_failure.get("max_attempts"))
        row["failure_message"] = on_failure.get("message", "")
        row["description"] = dep.get("description", "")
        rows.append(row)
    return rows


def rows_to_deps(state: EditorState) -> list[dict[str, Any]]:
    deps = []
    for i, row in enumerate(state.dep_rows):
        dep: dict[str, Any] = {}
        if row["name"].strip():
            dep["name"] = row["name"].strip()
        dep["type"] = row["type"] if row["type"] in ("api", "workflow") else "api"
        if row["when"] == "fields":
            fields = [f.strip() for f in row["when_fields"].split(",") if f.strip()]
            if not fields:
                state.add_dep_error(i, "when_fields", "name the fields, separated by commas")
            dep["when"] = {"fields": fields}
        elif row["when"] in ("on_start", "before_complete"):
            dep["when"] = row["when"]
        if dep["type"] == "api":
            api: dict[str, Any] = {}
            if row["endpoint"].strip():
                api["endpoint"] = row["endpoint"].strip()
            api["method"] = row["method"] or "POST"
            try:
                api["headers"] = _parse_headers(row["headers"])
            except ValueError as exc:
                state.add_dep_error(i, "headers", str(exc))
            if row["body"].strip():
                try:
                    api["body"] = _no_hostile_text(json.loads(row["body"]))
                except (ValueError, RecursionError) as exc:
                    state.add_dep_error(i, "body", f"the body is not valid JSON: {exc}")
            if row["timeout_s"].strip():
                try:
                    api["timeout_s"] = _parse_number(row["timeout_s"])
                except ValueError:
                    state.add_dep_error(i, "timeout_s", "the timeout must be a number of seconds")
            dep["api"] = api
            if row["success_path"].strip():
                dep["success_path"] = row["success_path"].strip()
            if row["success_values"].strip():
                try:
                    dep["success_values"] = _no_hostile_text(json.loads(row["success_values"]))
                except (ValueError, RecursionError) as exc:
                    state.add_dep_error(i, "success_values", f'write a JSON list such as ["approved"]: {exc}')
            if row["store_as"].strip():
                dep["store_as"] = row["store_as"].strip()
        else:
            if row["template"].strip():
                dep["template"] = row["template"].strip()
        on_failure: dict[str, Any] = {"action": row["failure_action"] or "fail"}
        if row["max_attempts"].strip():
            try:
                on_failure["max_attempts"] = int(row["max_attempts"])
            except ValueError:
                state.add_dep_error(i, "max_attempts", "attempts must be a whole number")
        if row["failure_message"].strip():
            on_failure["message"] = row["failure_message"].strip()
        dep["on_failure"] = on_failure
        if row["description"].strip():
            dep["description"] = row["description"].strip()
        deps.append(dep)
    return deps


# ---------------------------------------------------------------- end action


def target_to_ea(target: Any) -> dict[str, str] | None:
    ea = {a: "" for a in EA_ATTRS}
    ea["method"] = "POST"
    if target is None:
        return ea
    if not isinstance(target, dict) or set(target) - {"endpoint", "method", "headers", "timeout_s", "template"}:
        return None
    ea["endpoint"] = target.get("endpoint", "")
    ea["method"] = target.get("method", "POST")
    ea["headers"] = _headers_text(target.get("headers"))
    ea["timeout_s"] = _scalar_text(target.get("timeout_s"))
    ea["template"] = target.get("template", "")
    return ea


def ea_to_target(state: EditorState) -> dict[str, Any] | None:
    if state.ea_type == "api_call":
        target: dict[str, Any] = {}
        if state.ea["endpoint"].strip():
            target["endpoint"] = state.ea["endpoint"].strip()
        target["method"] = state.ea["method"] or "POST"
        try:
            headers = _parse_headers(state.ea["headers"])
            if headers:
                target["headers"] = headers
        except ValueError as exc:
            state.ea_errors.setdefault("headers", []).append(str(exc))
        if state.ea["timeout_s"].strip():
            try:
                target["timeout_s"] = _parse_number(state.ea["timeout_s"])
            except ValueError:
                state.ea_errors.setdefault("timeout_s", []).append("the timeout must be a number of seconds")
        return target
    if state.ea_type == "start_workflow":
        return {"template": state.ea["template"].strip()} if state.ea["template"].strip() else {}
    return None


# ---------------------------------------------------------------- raw JSON


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_hostile_text(value: Any) -> Any:
    """Parsed JSON without NUL characters or lone surrogates (ValueError naming the place)."""
    from wfapp.services.validation import hostile_text

    found = hostile_text(value)
    if found is not None:
        raise ValueError(f"{found[0]} {found[1].removeprefix('a key ')}: such characters are not accepted")
    return value


def parse_json_text(text: str) -> Any:
    """json.loads that refuses duplicate keys; ValueError with a message that names the line."""
    try:
        return _no_hostile_text(json.loads(text, object_pairs_hook=_no_duplicates))
    except _DuplicateKey as exc:
        raise ValueError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None


# ---------------------------------------------------------------- the whole definition


def definition_from_state(state: EditorState, lenient: bool = False) -> dict[str, Any]:
    """The body the services take (the API's create/update body); form mistakes are recorded on
    the state."""
    body: dict[str, Any] = {
        "category": state.category,
        "description": state.description,
        "guidelines": state.guidelines,
        "end_action_type": state.ea_type if state.ea_type in END_ACTION_TYPES else "none",
    }
    if state.is_new:
        body["name"] = state.name
    if state.change_note.strip():
        body["change_note"] = state.change_note.strip()
    if state.schema_mode == "raw":
        try:
            body["state_schema"] = parse_json_text(state.schema_json or "{}")
            if not isinstance(body["state_schema"], dict):
                state.schema_errors.append("state_schema must be a JSON object of fields")
        except ValueError as exc:
            state.schema_errors.append(str(exc))
    else:
        body["state_schema"] = rows_to_compact(state, lenient)
    if state.deps_mode == "raw":
        try:
            body["workflow_dependencies"] = parse_json_text(state.deps_json or "[]")
        except ValueError as exc:
            state.deps_errors.append(str(exc))
    else:
        body["workflow_dependencies"] = rows_to_deps(state)
    if state.ea_mode == "raw":
        try:
            body["end_action_target"] = parse_json_text(state.ea_json or "null")
        except ValueError as exc:
            state.ea_errors.setdefault("", []).append(str(exc))
    else:
        body["end_action_target"] = ea_to_target(state)
    return body


DEP_ERROR_ATTR = {
    "api/endpoint": "endpoint",
    "api/method": "method",
    "api/headers": "headers",
    "api/body": "body",
    "api/timeout_s": "timeout_s",
    "api": "endpoint",
    "on_failure/action": "failure_action",
    "on_failure/max_attempts": "max_attempts",
    "on_failure/message": "failure_message",
    "on_failure": "failure_action",
    "when/fields": "when_fields",
    "when": "when",
}


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def route_errors(state: EditorState, errors: list[dict[str, str]]) -> None:
    """Put the services' errors ([{path, message}]) beside the inputs they name."""
    key_row = {}
    for i, row in enumerate(state.rows):
        key_row.setdefault(row["key"].strip(), i)
    for err in errors:
        path, message = err.get("path", ""), err["message"]
        parts = [_unescape(p) for p in path.split("/")[1:]]
        head = parts[0] if parts else ""
        if head == "state_schema":
            if state.schema_mode == "raw" or len(parts) < 2 or parts[1] not in key_row or parts[1] == "properties":
                state.schema_errors.append(f"{path}: {message}" if len(parts) > 1 else message)
                continue
            attr = parts[2] if len(parts) > 2 else "key"
            attr = {"enum": "choices", "type": "type"}.get(attr, attr)
            if attr not in ROW_ATTRS:
                attr = "key"
            state.add_row_error(key_row[parts[1]], attr, message)
        elif head == "workflow_dependencies":
            if state.deps_mode == "raw" or len(parts) < 2 or not parts[1].isdigit():
                state.deps_errors.append(f"{path}: {message}")
                continue
            i = int(parts[1])
            rest = "/".join(parts[2:])
            attr = (
                DEP_ERROR_ATTR.get(rest)
                or DEP_ERROR_ATTR.get("/".join(parts[2:4]))
                or (parts[2] if len(parts) > 2 else "name")
            )
            if attr not in DEP_ATTRS:
                attr = "name"
            state.add_dep_error(i, attr, message)
        elif head == "end_action_type":
            state.ea_errors.setdefault("type", []).append(message)
        elif head == "end_action_target":
            attr = parts[1] if len(parts) > 1 and state.ea_mode != "raw" else ""
            if attr not in EA_ATTRS:
                attr = ""
            state.ea_errors.setdefault(attr, []).append(message if attr else f"{path}: {message}")
        elif head in ("name", "category", "description", "guidelines", "change_note"):
            state.general.setdefault(head, []).append(message)
        else:
            state.general.setdefault("", []).append(f"{path}: {message}" if path else message)


def apply_op(state: EditorState, op: str) -> None:
    """Structural edits of the builder: add/remove/reorder rows, switch raw/builder modes."""
    verb, _, arg = op.partition(":")
    idx = int(arg) if arg.isdigit() else -1
    if verb == "add_field":
        row = {a: "" for a in ROW_ATTRS}
        row["type"] = "string"
        state.rows.append(row)
    elif verb == "remove_field" and 0 <= idx < len(state.rows):
        state.rows.pop(idx)
    elif verb in ("up", "down") and 0 <= idx < len(state.rows):
        j = idx - 1 if verb == "up" else idx + 1
        if 0 <= j < len(state.rows):
            state.rows[idx], state.rows[j] = state.rows[j], state.rows[idx]
    elif verb == "schema_mode":
        if arg == "raw" and state.schema_mode != "raw":
            schema = rows_to_compact(state, lenient=True)
            state.schema_mode, state.schema_json = "raw", json.dumps(schema, indent=2, ensure_ascii=False)
        elif arg == "builder" and state.schema_mode == "raw":
            try:
                rows = compact_to_rows(parse_json_text(state.schema_json or "{}"))
            except ValueError as exc:
                state.schema_errors.append(f"fix the JSON before switching to the builder: {exc}")
                return
            if rows is None:
                state.schema_errors.append(
                    "this schema uses settings the builder cannot show (a full JSON Schema, "
                    "nested items or non-text choices); keep editing it as JSON"
                )
                return
            state.schema_mode, state.rows = "builder", rows
    elif verb == "add_dep":
        row = {a: "" for a in DEP_ATTRS}
        row.update(type="api", when="on_start", method="POST", failure_action="fail")
        state.dep_rows.append(row)
    elif verb == "remove_dep" and 0 <= idx < len(state.dep_rows):
        state.dep_rows.pop(idx)
    elif verb == "deps_mode":
        if arg == "raw" and state.deps_mode != "raw":
            deps = rows_to_deps(state)
            state.deps_mode, state.deps_json = "raw", json.dumps(deps, indent=2, ensure_ascii=False)
        elif arg == "builder" and state.deps_mode == "raw":
            try:
                rows = deps_to_rows(parse_json_text(state.deps_json or "[]"))
            except ValueError as exc:
                state.deps_errors.append(f"fix the JSON before switching to the form: {exc}")
                return
            if rows is None:
                state.deps_errors.append(
                    "these dependencies use settings the form cannot show; keep editing them as JSON"
                )
                return
            state.deps_mode, state.dep_rows = "builder", rows
    elif verb == "ea_mode":
        if arg == "raw" and state.ea_mode != "raw":
            state.ea_mode = "raw"
            state.ea_json = json.dumps(ea_to_target(state), indent=2, ensure_ascii=False)
        elif arg == "builder" and state.ea_mode == "raw":
            try:
                ea = target_to_ea(parse_json_text(state.ea_json or "null"))
            except ValueError as exc:
                state.ea_errors.setdefault("", []).append(f"fix the JSON before switching to the form: {exc}")
                return
            if ea is None:
                state.ea_errors.setdefault("", []).append("this end action target cannot be shown as a form")
                return
            state.ea_mode, state.ea = "builder", ea
