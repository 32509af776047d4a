"""The three parts of a definition the editor can show as a form or as raw JSON: the state
schema (builder rows), the dependencies (form rows) and the end action target (form values).

Each Section names where its form values, raw text, mode and raw-JSON errors live on the
EditorState and which codec converts; loading a definition, reading the posted form and
switching between the form and raw JSON are written once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wfapp.dashboard.workflow_templates.editor import dependencies, end_action, fields
from wfapp.dashboard.workflow_templates.editor.state import EditorState, merge_row_errors
from wfapp.dashboard.workflow_templates.editor.text import parse_json_text, pretty_json


@dataclass(frozen=True)
class Section:
    key: str  # in the definition
    mode_attr: str  # EditorState attribute: "builder" or "raw"
    text_attr: str  # EditorState attribute: the raw JSON text
    form_attr: str  # EditorState attribute: the form's values
    empty: Any  # the value of an absent section
    to_form: Callable[[Any], Any]  # value -> form values, None when the form cannot show it
    from_form: Callable[[EditorState, bool], Any]  # form values -> value; mistakes go on the state
    add_error: Callable[[EditorState, str], None]  # a message for the whole section
    form_word: str  # what the switch calls the form
    cannot_show: str
    check_raw: Callable[[Any], str | None] = lambda value: None

    def mode(self, state: EditorState) -> str:
        return getattr(state, self.mode_attr)

    def load(self, state: EditorState, value: Any) -> None:
        """Show a saved value: in the form when it can, as raw JSON otherwise."""
        value = value or self.empty
        form = self.to_form(value)
        if form is None:
            setattr(state, self.mode_attr, "raw")
            setattr(state, self.text_attr, pretty_json(value))
        else:
            setattr(state, self.form_attr, form)

    def read(self, state: EditorState) -> tuple[bool, Any]:
        """The section's value as posted: (False, None) when its raw JSON does not parse."""
        if self.mode(state) != "raw":
            return True, self.from_form(state, False)
        try:
            value = parse_json_text(getattr(state, self.text_attr) or pretty_json(self.empty))
        except ValueError as exc:
            self.add_error(state, str(exc))
            return False, None
        problem = self.check_raw(value)
        if problem:
            self.add_error(state, problem)
        return True, value

    def switch(self, state: EditorState, mode: str) -> None:
        """Switch between the form and raw JSON; a switch to the form that cannot be made
        leaves a message and keeps the raw JSON."""
        if mode == "raw" and self.mode(state) != "raw":
            value = self.from_form(state, True)
            setattr(state, self.mode_attr, "raw")
            setattr(state, self.text_attr, pretty_json(value))
        elif mode == "builder" and self.mode(state) == "raw":
            try:
                form = self.to_form(parse_json_text(getattr(state, self.text_attr) or pretty_json(self.empty)))
            except ValueError as exc:
                self.add_error(state, f"fix the JSON before switching to the {self.form_word}: {exc}")
                return
            if form is None:
                self.add_error(state, self.cannot_show)
                return
            setattr(state, self.mode_attr, "builder")
            setattr(state, self.form_attr, form)


def _schema_from_form(state: EditorState, lenient: bool) -> dict[str, Any]:
    schema, errors = fields.schema_from_rows(state.rows, lenient)
    merge_row_errors(state.row_errors, errors)
    return schema


def _deps_from_form(state: EditorState, lenient: bool) -> list[dict[str, Any]]:
    deps, errors = dependencies.deps_from_rows(state.dep_rows)
    merge_row_errors(state.dep_errors, errors)
    return deps


def _target_from_form(state: EditorState, lenient: bool) -> dict[str, Any] | None:
    target, errors = end_action.target_from_values(state.ea_type, state.ea)
    for attr, messages in errors.items():
        state.ea_errors.setdefault(attr, []).extend(messages)
    return target


SCHEMA = Section(
    key="state_schema",
    mode_attr="schema_mode",
    text_attr="schema_json",
    form_attr="rows",
    empty={},
    to_form=fields.rows_from_schema,
    from_form=_schema_from_form,
    add_error=lambda state, message: state.schema_errors.append(message),
    form_word="builder",
    cannot_show="this schema uses settings the builder cannot show (a full JSON Schema, "
    "nested items or non-text choices); keep editing it as JSON",
    check_raw=lambda value: None if isinstance(value, dict) else "state_schema must be a JSON object of fields",
)
DEPENDENCIES = Section(
    key="workflow_dependencies",
    mode_attr="deps_mode",
    text_attr="deps_json",
    form_attr="dep_rows",
    empty=[],
    to_form=dependencies.rows_from_deps,
    from_form=_deps_from_form,
    add_error=lambda state, message: state.deps_errors.append(message),
    form_word="form",
    cannot_show="these dependencies use settings the form cannot show; keep editing them as JSON",
)
END_ACTION = Section(
    key="end_action_target",
    mode_attr="ea_mode",
    text_attr="ea_json",
    form_attr="ea",
    empty=None,
    to_form=end_action.values_from_target,
    from_form=_target_from_form,
    add_error=lambda state, message: state.add_ea_error("", message),
    form_word="form",
    cannot_show="this end action target cannot be shown as a form",
)
SECTIONS = (SCHEMA, DEPENDENCIES, END_ACTION)
BY_OP = {"schema_mode": SCHEMA, "deps_mode": DEPENDENCIES, "ea_mode": END_ACTION}
