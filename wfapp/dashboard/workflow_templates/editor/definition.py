"""The whole definition <-> the editor's state, and the services' errors put back beside the
inputs they name."""

from __future__ import annotations

from typing import Any

from wfapp.dashboard.workflow_templates.editor import dependencies, end_action, fields
from wfapp.dashboard.workflow_templates.editor.sections import SECTIONS
from wfapp.dashboard.workflow_templates.editor.state import EditorState
from wfapp.schemas.definitions import END_ACTION_TYPES

GENERAL = ("name", "category", "description", "guidelines", "change_note")


def state_from_definition(
    is_new: bool, name: str = "", category: str = "", d: dict[str, Any] | None = None
) -> EditorState:
    d = d or {}
    state = EditorState(
        is_new=is_new,
        name=name,
        category=category or "",
        description=d.get("description") or "",
        guidelines=d.get("guidelines") or "",
        ea_type=d.get("end_action_type") or "none",
    )
    for section in SECTIONS:
        section.load(state, d.get(section.key))
    return state


def definition_from_state(state: EditorState) -> dict[str, Any]:
    """The body the services take (the API's create/update body); form mistakes are recorded on
    the state, and a section whose raw JSON does not parse is left out."""
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
    for section in SECTIONS:
        parsed, value = section.read(state)
        if parsed:
            body[section.key] = value
    return body


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def route_errors(state: EditorState, errors: list[dict[str, str]]) -> None:
    """Put the services' errors ([{path, message}]) beside the inputs they name."""
    key_row: dict[str, int] = {}
    for i, row in enumerate(state.rows):
        key_row.setdefault(row["key"].strip(), i)
    for err in errors:
        path, message = err.get("path", ""), err["message"]
        parts = [_unescape(p) for p in path.split("/")[1:]]
        head = parts[0] if parts else ""
        if head == "state_schema":
            if state.schema_mode == "raw" or len(parts) < 2 or parts[1] not in key_row or parts[1] == "properties":
                state.schema_errors.append(f"{path}: {message}" if len(parts) > 1 else message)
            else:
                state.add_row_error(key_row[parts[1]], fields.error_attr(parts[2:]), message)
        elif head == "workflow_dependencies":
            if state.deps_mode == "raw" or len(parts) < 2 or not parts[1].isdigit():
                state.deps_errors.append(f"{path}: {message}")
            else:
                state.add_dep_error(int(parts[1]), dependencies.error_attr(parts[2:]), message)
        elif head == "end_action_type":
            state.add_ea_error("type", message)
        elif head == "end_action_target":
            attr = end_action.error_attr(parts[1:]) if state.ea_mode != "raw" else ""
            state.add_ea_error(attr, message if attr else f"{path}: {message}")
        elif head in GENERAL:
            state.general.setdefault(head, []).append(message)
        else:
            state.general.setdefault("", []).append(f"{path}: {message}" if path else message)
