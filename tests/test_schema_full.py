"""Full JSON Schema 2020-12 state schemas: what is accepted, what merges and completion decide."""

import time

import pytest

from wfapp.errors import SchemaError
from wfapp.schemas.state_schema import build_compiled, compile_state_schema, is_full_schema

D = "https://json-schema.org/draft/2020-12/schema"


def compiled(schema):
    return build_compiled(compile_state_schema(schema))


def refused(schema) -> list[dict]:
    with pytest.raises(SchemaError) as exc:
        compile_state_schema(schema)
    return exc.value.errors


def test_full_or_compact_follows_the_documented_rule():
    # compact: field specs, even under names that are JSON Schema keywords
    assert not is_full_schema({"amount": {"type": "number", "required": True}})
    assert not is_full_schema({"title": {"type": "string"}, "type": {"type": "enum", "choices": ["a", "b"]}})
    assert not is_full_schema({})
    # full: $schema, or a keyword whose value is no compact field spec
    assert is_full_schema({"$schema": D})
    assert is_full_schema({"type": "object"})
    assert is_full_schema({"required": ["a"]})
    assert is_full_schema({"properties": {"a": {"type": "string"}}})
    assert is_full_schema({"allOf": [{"required": ["a"]}]})
    assert is_full_schema({"minProperties": 1})
    c = compiled({"title": {"type": "string", "required": True}})
    assert [f.key for f in c.fields] == ["title"] and c.required == ["title"]


def test_other_drafts_and_roots_that_refuse_objects_are_refused():
    errors = refused({"$schema": "http://json-schema.org/draft-07/schema#", "properties": {}})
    assert errors[0]["path"] == "/state_schema/$schema" and "2020-12" in errors[0]["message"]
    assert refused({"type": "string"})[0]["path"] == "/state_schema/type"
    assert compiled({"$schema": D, "type": ["object", "null"]}).validate_complete({}) == []


def test_defs_refs_and_embedded_ids_resolve():
    schema = {
        "$schema": D,
        "$id": "https://forms.example/loan.json",
        "$defs": {
            "money": {"type": "number", "minimum": 1000},
            "who": {"$ref": "#/$defs/name"},
            "name": {"type": "string"},
        },
        "properties": {
            "amount": {"$ref": "#/$defs/money", "title": "Amount"},
            "again": {"$ref": "https://forms.example/loan.json#/$defs/money"},
            "who": {"$ref": "#/$defs/who"},
        },
        "required": ["amount"],
    }
    c = compiled(schema)
    assert [f.key for f in c.fields] == ["amount", "again", "who"]
    assert c.fields[0].type == "number" and c.fields[0].title == "Amount" and c.required == ["amount"]
    assert [e["path"] for e in c.validate_merge({"amount": 5}, ["amount"])] == ["/state_data/amount"]
    assert c.validate_merge({"again": 5, "who": 3}, ["again", "who"]) != []
    assert c.validate_complete({"amount": 2000, "again": 2000, "who": "Ann"}) == []


def test_a_root_ref_gives_the_fields_and_judges_them_at_merge():
    c = compiled(
        {
            "$ref": "#/$defs/person",
            "$defs": {"person": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}},
        }
    )
    assert [f.key for f in c.fields] == ["age"] and c.fields[0].required
    assert c.validate_merge({"age": "x"}, ["age"])[0]["path"] == "/state_data/age"
    assert c.validate_merge({"other": 1}, ["other"]) == []
    assert c.validate_complete({})[0]["path"] == "/state_data/age"


@pytest.mark.parametrize(
    "where",
    [
        {"properties": {"a": {"$ref": "http://169.254.169.254/latest/meta-data"}}},
        {"$defs": {"x": {"items": {"$ref": "other.json#/x"}}}},
        {"properties": {"a": {"type": "array", "prefixItems": [{"$ref": "https://evil.example/s.json"}]}}},
        {"$defs": {"x": {"not": {"$dynamicRef": "https://evil.example/s.json#meta"}}}},
    ],
)
def test_remote_refs_are_refused_wherever_they_sit(where):
    errors = refused({"$schema": D, **where})
    assert "points outside the schema" in errors[0]["message"]


def test_a_ref_to_nothing_is_refused():
    assert "points to nothing" in refused({"properties": {"a": {"$ref": "#/$defs/missing"}}})[0]["message"]


def test_exponential_ref_expansion_is_refused_quickly():
    defs = {"d0": {"type": "string"}}
    for i in range(1, 31):
        defs[f"d{i}"] = {"allOf": [{"$ref": f"#/$defs/d{i - 1}"}, {"$ref": f"#/$defs/d{i - 1}"}]}
    started = time.monotonic()
    errors = refused({"$defs": defs, "properties": {"x": {"$ref": "#/$defs/d30"}}})
    assert time.monotonic() - started < 2
    assert errors[0]["path"] == "/state_schema" and "expands to more than" in errors[0]["message"]
    # a recursive schema (a tree) is fine: each round consumes a level of the data
    tree = {
        "$defs": {
            "node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
        }
    }
    c = compiled({**tree, "properties": {"root": {"$ref": "#/$defs/node"}}})
    assert c.validate_complete({"root": {"kids": [{"kids": []}]}}) == []
    assert c.validate_complete({"root": {"kids": [1]}}) != []


WHOLE = {
    "$schema": D,
    "type": "object",
    "properties": {
        "country": {"enum": ["US", "FR"]},
        "zip": {"type": "string"},
        "card": {"type": "string"},
        "billing": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string"},
    },
    "required": ["country"],
    "minProperties": 3,
    "dependentRequired": {"card": ["billing"]},
    "oneOf": [{"required": ["email"]}, {"required": ["phone"]}],
    "if": {"properties": {"country": {"const": "US"}}, "required": ["country"]},
    "then": {"required": ["zip"]},
    "unevaluatedProperties": False,
}


def test_merges_accept_the_partial_states_a_conversation_passes_through():
    c = compiled(WHOLE)
    state: dict = {}
    for key, value in [
        ("country", "US"),
        ("card", "4111"),
        ("billing", "Main St"),
        ("zip", "10001"),
        ("email", "a@b.example"),
    ]:
        state[key] = value
        assert c.validate_merge(state, [key]) == [], key
    assert c.validate_complete(state) == []
    # a field's own schema is still judged at once
    assert c.validate_merge({"email": "@example.com"}, ["email"])[0]["path"] == "/state_data/email"
    assert c.validate_merge({"country": "DE"}, ["country"])[0]["path"] == "/state_data/country"


def test_completion_judges_the_whole_object_and_outstanding_says_what_is_left():
    c = compiled(WHOLE)
    state = {"country": "US", "card": "4111"}
    paths = [e["path"] for e in c.validate_complete(state)]
    assert "/state_data/zip" in paths and "/state_data/billing" in paths
    out = {(e["path"], e["keyword"]): e["message"] for e in c.outstanding(state)}
    assert out[("/state_data/zip", "required")] == "is required when country is 'US' and country is given"
    assert out[("/state_data/billing", "dependentRequired")] == "is required when card is given"
    assert out[("/state_data", "minProperties")] == "needs at least 3 field(s)"
    assert "email, or phone" in out[("/state_data", "oneOf")]
    # no message echoes the state's values
    assert not any("4111" in m for m in out.values())
    done = {**state, "zip": "1", "billing": "x", "phone": "+1 555 0100"}
    assert c.outstanding(done) == [] and c.validate_complete(done) == []
    assert c.validate_complete({**done, "extra": 1}) != []  # unevaluatedProperties at completion
    assert c.validate_complete({**done, "email": "a@b.example"}) != []  # oneOf: not both


def test_admits_null():
    c = compiled(
        {
            "properties": {"a": {"type": ["string", "null"]}, "b": {"type": "string"}, "c": {"$ref": "#/$defs/n"}},
            "$defs": {"n": {"type": "null"}},
        }
    )
    assert c.admits_null("a") and not c.admits_null("b") and c.admits_null("c")
    assert not compiled({"a": {"type": "string"}}).admits_null("a")
    assert c.validate_merge({"a": None}, ["a"]) == []


def test_boolean_subschemas_and_additional_properties():
    c = compiled(
        {
            "properties": {"a": True, "b": False},
            "patternProperties": {"^x_": {"type": "integer"}},
            "additionalProperties": False,
        }
    )
    assert c.validate_merge({"a": [1]}, ["a"]) == []
    assert c.validate_merge({"b": 1}, ["b"])[0]["path"] == "/state_data/b"
    assert c.validate_merge({"x_1": "no"}, ["x_1"])[0]["path"] == "/state_data/x_1"
    assert c.validate_merge({"x_1": 3}, ["x_1"]) == []
    assert c.validate_merge({"other": 3}, ["other"])[0]["path"] == "/state_data/other"


def test_compact_schemas_compile_as_before():
    schema = compile_state_schema(
        {"amount": {"type": "number", "required": True, "minimum": 1}, "mail": {"type": "email"}}
    )
    assert schema["required"] == ["amount"] and schema["properties"]["mail"]["format"] == "email"
    c = build_compiled(schema)
    assert c.is_field_wise and c.validate_merge({"mail": "x"}, ["mail"])[0]["message"] == "is not a valid email"
    assert c.validate_merge({}, []) == [] and c.validate_complete({})[0]["path"] == "/state_data/amount"
