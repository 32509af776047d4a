"""The editor's codecs: a definition part -> form values -> the same part again, for every field
type and setting the builder shows; and a mistake typed in a form row comes back as a message
beside that row's input, never as an exception."""

import pytest

from wfapp.dashboard.workflow_templates.editor.definition import definition_from_state, state_from_definition
from wfapp.dashboard.workflow_templates.editor.dependencies import deps_from_rows, rows_from_deps
from wfapp.dashboard.workflow_templates.editor.end_action import target_from_values, values_from_target
from wfapp.dashboard.workflow_templates.editor.fields import (
    CONSTRAINTS,
    blank_row,
    rows_from_schema,
    schema_from_rows,
)
from wfapp.dashboard.workflow_templates.editor.ops import apply_op
from wfapp.dashboard.workflow_templates.editor.state import EditorState
from wfapp.schemas.state_schema import FIELD_TYPES

TEXT = {"title": "Shown title", "description": "For the LLM", "required": True, "sensitive": True}
FIELDS = {
    "string": {
        "type": "string",
        "minLength": 2,
        "maxLength": 40,
        "pattern": "^[A-Z]",
        "default": "Ab",
        "examples": ["Ab", "Cd"],
    },
    "text": {"type": "text", "minLength": 0, "maxLength": 2000, "pattern": "\\S", "default": "x", "examples": ["long"]},
    "number": {"type": "number", "minimum": -1.5, "maximum": 1000, "default": 2.5, "examples": [1, 2.25]},
    "integer": {"type": "integer", "minimum": 0, "maximum": 120, "default": 18, "examples": [30, 40]},
    "boolean": {"type": "boolean", "default": False},
    "enum": {"type": "enum", "choices": ["home", "car", "study"], "default": "car"},
    "date": {"type": "date", "default": "2026-01-31", "examples": ["2026-02-01"]},
    "email": {"type": "email", "maxLength": 200, "default": "a@example.com", "examples": ["b@example.com"]},
    "phone": {"type": "phone", "default": "+44 20 7946 0000", "examples": ["+1 555 0100"]},
    "array": {"type": "array", "minItems": 1, "maxItems": 5},
}


def test_every_field_type_and_setting_is_covered():
    assert set(FIELDS) == set(FIELD_TYPES)
    for ftype, spec in FIELDS.items():
        assert set(spec) - {"type"} == set(CONSTRAINTS[ftype]), ftype


@pytest.mark.parametrize("ftype", FIELD_TYPES)
def test_field_round_trip(ftype):
    schema = {f"f_{ftype}": dict(FIELDS[ftype], **TEXT), "plain": {"type": ftype}}
    if ftype == "enum":
        schema["plain"]["choices"] = ["a"]
    rows = rows_from_schema(schema)
    assert rows is not None
    assert schema_from_rows(rows) == (schema, {})


def test_field_rows_keep_the_order_of_the_questions():
    schema = {k: {"type": "string"} for k in ("zeta", "alpha", "mid")}
    assert [r["key"] for r in rows_from_schema(schema)] == ["zeta", "alpha", "mid"]
    assert list(schema_from_rows(rows_from_schema(schema))[0]) == ["zeta", "alpha", "mid"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string"}}},  # a full JSON Schema
        {"a": {"type": "array", "items": {"type": "integer"}}},  # nested items
        {"a": {"type": "enum", "choices": [1, 2]}},  # non-text choices
        {"a": {"type": "enum", "choices": "ab"}},
        {"a": {"type": "string", "minimum": 3}},  # a setting the builder has no input for
        {"a": {"type": "string", "format": "uuid"}},
        {"a": {"type": "string", "title": 5}},
        {"a": {"type": "string", "default": {"x": 1}}},
        {"a": {"type": "nope"}},
        {"a": "string"},
        ["a"],
    ],
)
def test_schemas_the_builder_cannot_show_stay_raw_json(schema):
    assert rows_from_schema(schema) is None
    state = state_from_definition(False, "t", d={"state_schema": schema})
    assert state.schema_mode == "raw" and state.rows == []


@pytest.mark.parametrize(
    "row, attr, message",
    [
        ({"key": "n", "type": "number", "minimum": "lots"}, "minimum", "Minimum must be a number"),
        ({"key": "n", "type": "integer", "maximum": "1.5"}, "maximum", "Maximum must be a whole number"),
        ({"key": "n", "type": "integer", "examples": "1\nmany"}, "examples", "must be a whole number"),
        ({"key": "s", "type": "string", "minLength": "-1"}, "minLength", "a whole number of 0 or more"),
        ({"key": "l", "type": "array", "maxItems": "x"}, "maxItems", "a whole number of 0 or more"),
        ({"key": "b", "type": "boolean", "default": "maybe"}, "default", "true or false"),
        ({"key": "e", "type": "enum"}, "choices", "at least one choice"),
        ({"key": " ", "type": "string"}, "key", "give the field a key"),
    ],
)
def test_a_mistake_in_a_field_row_is_reported_beside_its_input(row, attr, message):
    good = dict(blank_row(), key="ok")
    schema, errors = schema_from_rows([good, dict(blank_row(), **row)])
    assert list(errors) == [1] and list(errors[1]) == [attr]
    assert message in errors[1][attr][0]
    assert "ok" in schema


def test_a_duplicate_key_is_reported_on_the_second_row():
    rows = [dict(blank_row(), key="a"), dict(blank_row(), key="b"), dict(blank_row(), key="a", type="number")]
    schema, errors = schema_from_rows(rows)
    assert schema == {"a": {"type": "string"}, "b": {"type": "string"}}
    assert errors == {2: {"key": ["duplicate key 'a': field 1 has it already"]}}


# ------------------------------------------------------------------ dependencies

DEPS = [
    {
        "name": "kyc",
        "type": "api",
        "when": {"fields": ["full_name", "email"]},
        "api": {
            "endpoint": "https://kyc.example.com/check",
            "method": "PUT",
            "headers": {"Authorization": "Bearer ${secret:KYC}", "X-Trace": "1"},
            "body": {"name": "{{state.full_name}}", "nested": [1, {"a": True}]},
            "timeout_s": 2.5,
        },
        "success_path": "result.status",
        "success_values": ["approved", "ok"],
        "store_as": "kyc_result",
        "on_failure": {"action": "retry", "max_attempts": 3, "message": "KYC is down"},
        "description": "Identity check",
    },
    {
        "name": "credit",
        "type": "api",
        "when": "before_complete",
        "api": {"endpoint": "https://credit.example.com/", "method": "POST", "headers": {}},
        "on_failure": {"action": "fail"},
    },
    {
        "name": "onboarding",
        "type": "workflow",
        "when": "on_start",
        "template": "customer_onboarding",
        "on_failure": {"action": "wait", "message": "finish onboarding first"},
        "description": "Another workflow first",
    },
]


def test_dependencies_round_trip():
    rows = rows_from_deps(DEPS)
    assert rows is not None and [r["when"] for r in rows] == ["fields", "before_complete", "on_start"]
    assert deps_from_rows(rows) == (DEPS, {})


@pytest.mark.parametrize(
    "deps",
    [
        {"name": "x"},
        [{"name": "x", "unknown": 1}],
        [{"name": "x", "api": "https://x.example.com"}],
        [{"name": "x", "api": {"endpoint": 5}}],
        [{"name": "x", "api": {"headers": ["a"]}}],
        [{"name": "x", "when": {"fields": [1]}}],
        [5],
    ],
)
def test_dependencies_the_form_cannot_show_stay_raw_json(deps):
    assert rows_from_deps(deps) is None
    state = state_from_definition(False, "t", d={"workflow_dependencies": deps})
    assert state.deps_mode == "raw" and state.dep_rows == []


@pytest.mark.parametrize(
    "change, attr, message",
    [
        ({"headers": "no colon here"}, "headers", "Name: value"),
        ({"body": "{bad"}, "body", "not valid JSON"),
        ({"timeout_s": "soon"}, "timeout_s", "number of seconds"),
        ({"success_values": "[approved"}, "success_values", "JSON list"),
        ({"max_attempts": "three"}, "max_attempts", "whole number"),
        ({"when": "fields", "when_fields": " , "}, "when_fields", "name the fields"),
    ],
)
def test_a_mistake_in_a_dependency_row_is_reported_beside_its_input(change, attr, message):
    rows = rows_from_deps(DEPS)
    rows[1].update(change)
    deps, errors = deps_from_rows(rows)
    assert len(deps) == 3 and deps[0] == DEPS[0]
    assert list(errors) == [1] and list(errors[1]) == [attr] and message in errors[1][attr][0]


# ------------------------------------------------------------------ end action


@pytest.mark.parametrize(
    "ea_type, target",
    [
        (
            "api_call",
            {
                "endpoint": "https://api.bank.com/loans",
                "method": "PATCH",
                "headers": {"X-Key": "${secret:BANK}"},
                "timeout_s": 10,
            },
        ),
        ("api_call", {"endpoint": "https://api.bank.com/loans", "method": "POST"}),
        ("start_workflow", {"template": "follow_up"}),
        ("none", None),
    ],
)
def test_end_action_round_trip(ea_type, target):
    values = values_from_target(target)
    assert values is not None
    assert target_from_values(ea_type, values) == (target, {})


@pytest.mark.parametrize(
    "target", [[1], {"endpoint": "https://x.example.com", "retries": 3}, {"endpoint": 5}, {"headers": "X: 1"}]
)
def test_end_action_targets_the_form_cannot_show_stay_raw_json(target):
    assert values_from_target(target) is None
    state = state_from_definition(False, "t", d={"end_action_type": "api_call", "end_action_target": target})
    assert state.ea_mode == "raw"


def test_a_mistake_in_the_end_action_is_reported_beside_its_input():
    values = dict(values_from_target(None), endpoint="https://x.example.com", headers="oops", timeout_s="later")
    target, errors = target_from_values("api_call", values)
    assert target == {"endpoint": "https://x.example.com", "method": "POST"}
    assert set(errors) == {"headers", "timeout_s"}
    assert "Name: value" in errors["headers"][0] and "number of seconds" in errors["timeout_s"][0]


# ------------------------------------------------------------------ the whole definition, raw JSON switch


def test_definition_round_trip_through_the_editor_state():
    d = {
        "description": "Personal loan",
        "guidelines": "Be kind.",
        "state_schema": {"amount": dict(FIELDS["number"], **TEXT), "purpose": FIELDS["enum"]},
        "workflow_dependencies": DEPS,
        "end_action_type": "api_call",
        "end_action_target": {"endpoint": "https://api.bank.com/loans", "method": "POST"},
    }
    state = state_from_definition(False, "loan", "fintech", d)
    assert (state.schema_mode, state.deps_mode, state.ea_mode) == ("builder", "builder", "builder")
    body = definition_from_state(state)
    assert not state.has_errors
    assert body == dict(d, category="fintech")


def test_switching_each_section_to_raw_json_and_back_keeps_it():
    d = {
        "state_schema": {"amount": dict(FIELDS["integer"], **TEXT)},
        "workflow_dependencies": DEPS,
        "end_action_type": "start_workflow",
        "end_action_target": {"template": "follow_up"},
    }
    state = state_from_definition(False, "loan", d=d)
    before = definition_from_state(state)
    for op in ("schema_mode", "deps_mode", "ea_mode"):
        apply_op(state, f"{op}:raw")
    assert (state.schema_mode, state.deps_mode, state.ea_mode) == ("raw", "raw", "raw")
    assert definition_from_state(state) == before
    for op in ("schema_mode", "deps_mode", "ea_mode"):
        apply_op(state, f"{op}:builder")
    assert (state.schema_mode, state.deps_mode, state.ea_mode) == ("builder", "builder", "builder")
    assert definition_from_state(state) == before and not state.has_errors


@pytest.mark.parametrize(
    "op, attr, text, errors_of, message",
    [
        (
            "schema_mode",
            "schema_json",
            '{"a": 1',
            lambda s: s.schema_errors,
            "fix the JSON before switching to the builder",
        ),
        (
            "schema_mode",
            "schema_json",
            '{"a": {"type": "string", "minimum": 1}}',
            lambda s: s.schema_errors,
            "cannot show",
        ),
        (
            "deps_mode",
            "deps_json",
            '[{"name": "x"}, {"name": "x", "name": "y"}]',
            lambda s: s.deps_errors,
            "duplicate key",
        ),
        ("deps_mode", "deps_json", "{}", lambda s: s.deps_errors, "cannot show"),
        ("ea_mode", "ea_json", "nul", lambda s: s.ea_errors[""], "fix the JSON before switching to the form"),
        ("ea_mode", "ea_json", "[]", lambda s: s.ea_errors[""], "cannot be shown as a form"),
    ],
)
def test_a_refused_switch_to_the_form_keeps_the_raw_json_and_says_why(op, attr, text, errors_of, message):
    state = EditorState(is_new=True, **{op: "raw", attr: text})
    apply_op(state, f"{op}:builder")
    assert getattr(state, op) == "raw" and getattr(state, attr) == text
    assert message in errors_of(state)[0]


def test_raw_json_that_does_not_parse_is_reported_in_its_section_and_left_out():
    state = EditorState(
        is_new=True, schema_mode="raw", schema_json="[1]", deps_mode="raw", deps_json="[", ea_mode="raw", ea_json="{"
    )
    body = definition_from_state(state)
    assert body["state_schema"] == [1] and state.schema_errors == ["state_schema must be a JSON object of fields"]
    assert "workflow_dependencies" not in body and "invalid JSON at line 1" in state.deps_errors[0]
    assert "end_action_target" not in body and "invalid JSON" in state.ea_errors[""][0]


@pytest.mark.parametrize(
    "op, name, text, slot",
    [
        ("schema_mode", "state_schema_json", '{"a": {"type": "enum", "choices": 5}}', "schema-errors"),
        ("deps_mode", "workflow_dependencies_json", '[{"name": "x", "api": {"endpoint": 5}}]', "deps-errors"),
        ("ea_mode", "end_action_target_json", '{"endpoint": 5}', "ea-errors"),
    ],
)
def test_the_editor_page_refuses_odd_json_for_the_form_with_a_message(admin, op, name, text, slot):
    data = {"name": "odd", "schema_mode": "builder", "deps_mode": "builder", "ea_mode": "builder"}
    data.update({op: "raw", name: text, "end_action_type": "api_call", "op": f"{op}:builder"})
    r = admin.post("/workflow-templates/-/new/op", data, htmx=True)
    assert r.status_code == 200
    box = r.get_data(as_text=True).split(f'id="{slot}"', 1)[1].split("</div>", 1)[0]
    assert "keep editing" in box or "cannot be shown" in box
