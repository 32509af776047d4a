"""Structural edits of the editor that save nothing: add, remove and reorder rows, switch a
section between its form and raw JSON."""

from __future__ import annotations

from wfapp.dashboard.workflow_templates.editor import dependencies, fields
from wfapp.dashboard.workflow_templates.editor.sections import BY_OP
from wfapp.dashboard.workflow_templates.editor.state import EditorState


def apply_op(state: EditorState, op: str) -> None:
    """``op`` is the pressed button's value, such as ``add_field``, ``up:2`` or ``deps_mode:raw``;
    anything else (``refresh``) changes nothing."""
    verb, _, arg = op.partition(":")
    idx = int(arg) if arg.isdigit() else -1
    if verb in BY_OP:
        BY_OP[verb].switch(state, arg)
    elif verb == "add_field":
        state.rows.append(fields.blank_row())
    elif verb == "remove_field" and 0 <= idx < len(state.rows):
        state.rows.pop(idx)
    elif verb in ("up", "down") and 0 <= idx < len(state.rows):
        j = idx - 1 if verb == "up" else idx + 1
        if 0 <= j < len(state.rows):
            state.rows[idx], state.rows[j] = state.rows[j], state.rows[idx]
    elif verb == "add_dep":
        state.dep_rows.append(dependencies.blank_row())
    elif verb == "remove_dep" and 0 <= idx < len(state.dep_rows):
        state.dep_rows.pop(idx)
