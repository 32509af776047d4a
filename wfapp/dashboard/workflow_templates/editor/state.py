"""The editor's state: what the form shows (texts, as posted) and the mistakes beside each input."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from wfapp.dashboard.workflow_templates.editor.dependencies import DEP_ATTRS
from wfapp.dashboard.workflow_templates.editor.end_action import EA_ATTRS
from wfapp.dashboard.workflow_templates.editor.fields import ROW_ATTRS, Row, RowErrors


@dataclass
class EditorState:
    is_new: bool
    name: str = ""
    category: str = ""
    description: str = ""
    guidelines: str = ""
    change_note: str = ""
    schema_mode: str = "builder"
    rows: list[Row] = field(default_factory=list)
    schema_json: str = "{}"
    deps_mode: str = "builder"
    dep_rows: list[Row] = field(default_factory=list)
    deps_json: str = "[]"
    ea_mode: str = "builder"
    ea_type: str = "none"
    ea: dict[str, str] = field(default_factory=dict)
    ea_json: str = "null"
    # errors
    general: dict[str, list[str]] = field(default_factory=dict)  # name, category, ... , "" = other
    row_errors: RowErrors = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)  # raw mode
    dep_errors: RowErrors = field(default_factory=dict)
    deps_errors: list[str] = field(default_factory=list)  # raw mode / whole list
    ea_errors: dict[str, list[str]] = field(default_factory=dict)  # type, endpoint, ..., "" = raw/other

    @property
    def has_errors(self) -> bool:
        return self.error_count() > 0

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

    def add_ea_error(self, attr: str, message: str) -> None:
        self.ea_errors.setdefault(attr, []).append(message)

    def clear_errors(self) -> None:
        self.general, self.row_errors, self.schema_errors = {}, {}, []
        self.dep_errors, self.deps_errors, self.ea_errors = {}, [], {}


def merge_row_errors(into: RowErrors, errors: RowErrors) -> None:
    for i, attrs in errors.items():
        for attr, messages in attrs.items():
            into.setdefault(i, {}).setdefault(attr, []).extend(messages)


def _indexes(form: MultiDict[str, str], prefix: str) -> list[int]:
    found = (re.match(rf"^{prefix}-(\d+)-type$", name) for name in form)
    return sorted({int(m.group(1)) for m in found if m})


def state_from_form(form: MultiDict[str, str], is_new: bool) -> EditorState:
    """The state of the posted editor form."""
    s = EditorState(is_new=is_new)
    s.name = form.get("name", "").strip()
    s.category = form.get("category", "").strip()
    s.description = form.get("description", "")
    s.guidelines = form.get("guidelines", "")
    s.change_note = form.get("change_note", "")
    s.schema_mode = "raw" if form.get("schema_mode") == "raw" else "builder"
    s.deps_mode = "raw" if form.get("deps_mode") == "raw" else "builder"
    s.ea_mode = "raw" if form.get("ea_mode") == "raw" else "builder"
    s.rows = [{a: form.get(f"f-{i}-{a}", "") for a in ROW_ATTRS} for i in _indexes(form, "f")]
    for row in s.rows:
        row["type"] = row["type"] or "string"
    s.schema_json = form.get("state_schema_json", "{}")
    s.dep_rows = [{a: form.get(f"d-{i}-{a}", "") for a in DEP_ATTRS} for i in _indexes(form, "d")]
    s.deps_json = form.get("workflow_dependencies_json", "[]")
    s.ea_type = form.get("end_action_type", "none")
    s.ea = {a: form.get(f"ea-{a}", "") for a in EA_ATTRS}
    s.ea_json = form.get("end_action_target_json", "null")
    return s
