"""Formats are assertions; author regexes run in linear time (RE2)."""

import time

import pytest

from wfapp.errors import SchemaError
from wfapp.schemas.formats import FORMAT_CHECKER
from wfapp.schemas.state_schema import build_compiled, compile_state_schema


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        (
            "email",
            ["joe@example.com", '"joe bloggs"@example.com', "a+b@sub.example.org"],
            ["@example.com", "joe bloggs@example.com", "joe@", "jo\u00e9@example.com", "a@@b.example"],
        ),
        ("idn-email", ["jo\u00e9@example.com"], ["@example.com"]),
        ("date", ["2024-02-29"], ["2023-02-29", "2024-1-01", "24-01-01"]),
        (
            "date-time",
            ["2024-02-29T12:00:00Z", "2024-02-29T12:00:00+02:00"],
            ["2024-02-29 12:00", "2024-02-29T12:00:00"],
        ),
        ("uri", ["https://example.com/a?b#c", "urn:isbn:0451450523"], ["//example.com", "not a uri", "/relative"]),
        ("ipv4", ["192.168.0.1"], ["256.1.1.1", "01.2.3.4", "1.2.3"]),
        ("ipv6", ["::1", "2001:db8::8a2e:370:7334"], ["12345::", "1:2:3:4:5:6:7:8:9"]),
        ("uuid", ["2eb8aa08-aa98-11ea-b4aa-73b441d16380"], ["2eb8aa08aa9811eab4aa73b441d16380", "not-a-uuid"]),
        ("regex", ["^[a-z]+$", "\\d{3}"], ["(a)\\1", "(?=a)", "["]),
    ],
)
def test_format_checkers_agree_with_the_standards(fmt, good, bad):
    for value in good:
        assert FORMAT_CHECKER.conforms(value, fmt), (fmt, value)
    for value in bad:
        assert not FORMAT_CHECKER.conforms(value, fmt), (fmt, value)


def test_email_fields_refuse_malformed_addresses():
    for schema in ({"mail": {"type": "email"}}, {"properties": {"mail": {"type": "string", "format": "email"}}}):
        c = build_compiled(compile_state_schema(schema))
        for value in ("@example.com", "joe bloggs@example.com"):
            assert c.validate_merge({"mail": value}, ["mail"]) == [
                {"path": "/state_data/mail", "message": "is not a valid email", "field": "mail"}
            ]
        assert c.validate_merge({"mail": "joe@example.com"}, ["mail"]) == []


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"properties": {"a": {"type": "string", "pattern": "(a)\\1"}}}, "/state_schema/properties/a/pattern"),
        ({"a": {"type": "string", "pattern": "(?<=x)a"}}, "/state_schema/a/pattern"),
        ({"patternProperties": {"(?!x)": {}}}, "/state_schema/patternProperties"),
        ({"propertyNames": {"pattern": "(a)\\1"}}, "/state_schema/propertyNames/pattern"),
        ({"$defs": {"x": {"pattern": "(?=a)"}}}, "/state_schema/$defs/x/pattern"),
    ],
)
def test_regexes_rE2_cannot_run_are_refused_when_saved(schema, path):
    with pytest.raises(SchemaError) as exc:
        compile_state_schema(schema)
    assert exc.value.errors[0]["path"] == path
    assert "linear time" in exc.value.errors[0]["message"]


def test_backtracking_patterns_run_in_linear_time():
    key = "a" * 40 + "!"
    for schema in (
        {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False},
        {"type": "object", "propertyNames": {"pattern": "^(a+)+$"}},
        {"type": "object", "patternProperties": {"^(a+)+$": True}, "unevaluatedProperties": False},
        {"type": "object", "properties": {"v": {"type": "string", "pattern": "^(a+)+$"}}},
    ):
        c = build_compiled(compile_state_schema(schema))
        started = time.monotonic()
        state = {key: 1, "v": key}
        assert c.validate_complete(state) != []
        c.validate_merge(state, [key, "v"])
        c.outstanding(state)
        assert time.monotonic() - started < 1


def test_regex_format_values_are_judged_by_re2():
    c = build_compiled(compile_state_schema({"properties": {"r": {"type": "string", "format": "regex"}}}))
    assert c.validate_merge({"r": "^(a+)+$"}, ["r"]) == []
    assert c.validate_merge({"r": "(a)\\1"}, ["r"])[0]["message"] == "is not a valid regex"


def test_a_nested_schema_keyword_does_not_bring_back_backtracking():
    schema = {
        "type": "object",
        "properties": {"v": {"$schema": "https://json-schema.org/draft/2020-12/schema", "pattern": "^(a+)+$"}},
        "$defs": {"p": {"$schema": "https://json-schema.org/draft/2020-12/schema", "pattern": "^(a+)+$"}},
        "patternProperties": {"^w$": {"$ref": "#/$defs/p"}},
    }
    c = build_compiled(compile_state_schema(schema))
    started = time.monotonic()
    state = {"v": "a" * 40 + "!", "w": "a" * 40 + "!"}
    assert len(c.validate_complete(state)) == 2 and len(c.validate_merge(state, ["v", "w"])) == 2
    assert time.monotonic() - started < 1
    with pytest.raises(SchemaError) as exc:
        compile_state_schema({"properties": {"v": {"$schema": "http://json-schema.org/draft-07/schema#"}}})
    assert exc.value.errors[0]["path"] == "/state_schema/properties/v/$schema"
