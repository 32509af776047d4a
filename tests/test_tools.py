"""The state_schema as a function-calling tool, checked with the LLM clients' own types and checks."""

import copy
import json
import re

import pytest
from anthropic.types import ToolParam
from jsonschema import Draft202012Validator
from openai.lib._parsing._completions import validate_input_tools
from openai.lib._pydantic import _ensure_strict_json_schema
from openai.types.chat import ChatCompletionToolParam
from openai.types.responses import FunctionToolParam
from pydantic import TypeAdapter

from wfapp import demo
from wfapp.schemas.state_schema import build_compiled, compile_state_schema
from wfapp.schemas.tools import (
    DIALECTS,
    NULL_MEANING,
    RESERVED,
    STRICT_NULL_MEANING,
    null_meaning,
    template_tool,
    tool_for,
    tool_name,
)

# OpenAI Structured Outputs, "Supported schemas" (types, properties, $ref/$defs, annotations)
OPENAI_STRICT_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "$ref", "$defs",
    "title", "description", "pattern", "format", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "minItems", "maxItems",
}  # fmt: skip
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
LONG_A = "a" * 60 + "_personal_loan_application_first"
LONG_B = "a" * 60 + "_personal_loan_application_second"

RICH = {
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {
                "street": {"type": "string", "minLength": 2},
                "city": {"type": "string"},
                "postcode": {"type": "string", "pattern": "^[0-9]{4,5}$"},
            },
            "required": ["street", "city"],
        },
        "never_used": {"type": "string"},
    },
    "properties": {
        "home": {"$ref": "#/$defs/address", "description": "where the applicant lives"},
        "contact": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "phone": {"type": "string"}},
            "required": ["email"],
        },
        "payment": {
            "oneOf": [
                {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"]},
                {"type": "object", "properties": {"card": {"type": "string", "maxLength": 19}}, "required": ["card"]},
            ]
        },
        "kind": {"enum": ["new", "renewal"]},
        "born": {"type": "string", "format": "date", "title": "Date of birth"},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 5},
        "amount": {"type": "number", "minimum": 1000, "default": 5000},
    },
    "required": ["home", "born", "amount"],
}
RICH_FULL = {
    "home": {"street": "Main street 1", "city": "Ghent", "postcode": "9000"},
    "contact": {"email": "ann@example.com", "phone": "+32 9 123 45 67"},
    "payment": {"iban": "BE71096123456769"},
    "kind": "new",
    "born": "1990-04-01",
    "tags": ["first", "online"],
    "amount": 12000,
}
# What strict mode cannot say as such: recursion, a $ref into properties, allOf, free-form values,
# optional keys of objects in arrays, cross-field keywords.
EDGES = {
    "type": "object",
    "definitions": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
            },
            "required": ["label"],
        }
    },
    "properties": {
        "tree": {"$ref": "#/definitions/node"},
        "same_as_code": {"$ref": "#/properties/code"},
        "code": {"type": "integer", "const": 3},
        "free": {"type": "object"},
        "anything": {},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "note": {"type": "string"}},
                "required": ["n"],
            },
        },
        "either": {"type": ["string", "integer"], "minLength": 1},
        "short": {"allOf": [{"type": "string"}, {"maxLength": 3}]},
    },
    "minProperties": 1,
}
TEMPLATES = [
    *(
        (t["name"], t["state_schema"])
        for t in (demo.LOAN_APPLICATION, demo.KYC_VERIFICATION, demo.CREDIT_CARD_APPLICATION)
    ),
    ("rich_application", RICH),
    ("edge_cases", EDGES),
    (LONG_A, RICH),
    (LONG_B, demo.LOAN_APPLICATION["state_schema"]),
]


def compiled(state_schema):
    return build_compiled(compile_state_schema(state_schema))


def walk(schema):
    """Every subschema."""
    yield schema
    if isinstance(schema, dict):
        for key in ("properties", "$defs"):
            for sub in (schema.get(key) or {}).values():
                yield from walk(sub)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key) or []:
                yield from walk(sub)
        if isinstance(schema.get("items"), dict):
            yield from walk(schema["items"])


def refs(schema):
    return {s["$ref"] for s in walk(schema) if isinstance(s, dict) and "$ref" in s}


def check_schema(parameters):
    Draft202012Validator.check_schema(parameters)
    for ref in refs(parameters):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in parameters["$defs"], ref
    assert set(parameters.get("$defs") or {}) <= {r.removeprefix("#/$defs/") for r in refs(parameters)}


def roundtrip(type_, tool):
    """The client's own type validates the tool and keeps every key of it."""
    assert TypeAdapter(type_).validate_python(tool) == tool


def is_strict(parameters):
    """The openai SDK's own strict conversion leaves a strict schema as it is."""
    again = copy.deepcopy(parameters)
    return _ensure_strict_json_schema(again, path=(), root=again) == parameters


@pytest.mark.parametrize(("name", "state_schema"), TEMPLATES, ids=[n[:30] for n, _ in TEMPLATES])
def test_every_dialect_fits_its_client(name, state_schema):
    c = compiled(state_schema)
    tools = {d: template_tool(name, c, d) for d in DIALECTS}

    roundtrip(ChatCompletionToolParam, tools["openai"])
    check_schema(tools["openai"]["function"]["parameters"])

    strict = tools["openai-strict"]
    roundtrip(ChatCompletionToolParam, strict)
    assert validate_input_tools([strict]) == [strict]
    parameters = strict["function"]["parameters"]
    check_schema(parameters)
    assert is_strict(parameters)
    for sub in walk(parameters):
        assert set(sub) <= OPENAI_STRICT_KEYWORDS, sorted(set(sub) - OPENAI_STRICT_KEYWORDS)
        if "properties" in sub:
            assert sub["required"] == list(sub["properties"]) and sub["additionalProperties"] is False
        if "$ref" in sub:
            assert len(sub) == 1
        else:
            assert {"type", "anyOf", "enum"} & set(sub), sub
        if "object" in (sub.get("type") or []):
            assert sub["additionalProperties"] is False

    responses = tools["openai-responses"]
    roundtrip(FunctionToolParam, responses)
    assert responses["strict"] is True and responses["parameters"] == parameters

    roundtrip(ToolParam, tools["anthropic"])
    check_schema(tools["anthropic"]["input_schema"])

    Draft202012Validator.check_schema(tools["json-schema"])
    assert tools["json-schema"]["title"] == tool_name(name)

    for tool, dialect in (
        (tools["openai"]["function"], "openai"),
        (strict["function"], "openai-strict"),
        (responses, "openai-responses"),
        (tools["anthropic"], "anthropic"),
    ):
        assert tool["name"] == tool_name(name) and TOOL_NAME.match(tool["name"])
        assert null_meaning(dialect) in tool["description"]


def test_a_plain_tool_fails_the_sdks_strict_checks():
    tool = template_tool("rich_application", compiled(RICH), "openai")
    with pytest.raises(ValueError, match="is not strict"):
        validate_input_tools([tool])
    assert not is_strict(tool["function"]["parameters"])


def test_strict_schema_carries_refs_and_says_unsupported_keywords_in_words():
    parameters = template_tool("rich_application", compiled(RICH), "openai-strict")["function"]["parameters"]
    assert set(parameters["$defs"]) == {"address"}  # the unused definition stays behind
    home = parameters["properties"]["home"]
    assert home == {
        "anyOf": [{"$ref": "#/$defs/address"}, {"type": "null"}],
        "description": "where the applicant lives",
    }
    address = parameters["$defs"]["address"]
    assert address["properties"]["street"] == {"type": "string", "description": "At least 2 characters"}
    assert address["properties"]["postcode"]["type"] == ["string", "null"]  # optional: nullable
    assert address["properties"]["postcode"]["pattern"] == "^[0-9]{4,5}$"
    assert parameters["properties"]["born"] == {"type": ["string", "null"], "format": "date", "title": "Date of birth"}
    assert parameters["properties"]["kind"] == {"enum": ["new", "renewal", None]}
    assert "No item twice" in parameters["properties"]["tags"]["description"]
    assert "Exactly one of the choices" in str(parameters["properties"]["payment"])
    assert "default" not in str(parameters)


def test_strict_folds_all_of_and_closes_free_form_objects():
    parameters = template_tool("edge_cases", compiled(EDGES), "openai-strict")["function"]["parameters"]
    assert parameters["properties"]["short"] == {
        "anyOf": [{"type": "string", "description": "At most 3 characters"}, {"type": "null"}]
    }
    assert parameters["properties"]["free"]["additionalProperties"] is False
    assert parameters["properties"]["same_as_code"] == {
        "anyOf": [{"$ref": "#/$defs/properties_code"}, {"type": "null"}]
    }
    assert set(parameters["$defs"]) == {"node", "properties_code"}
    assert parameters["$defs"]["node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/node"}
    assert "minProperties 1" in parameters["description"]
    plain = template_tool("edge_cases", compiled(EDGES), "json-schema")
    assert NULL_MEANING in plain["description"] and "minProperties 1" in plain["description"]


def test_arguments_a_merge_accepts_fit_the_tool_schemas():
    c = compiled(RICH)
    assert c.validate_complete(RICH_FULL) == []
    strict = Draft202012Validator(template_tool("rich_application", c, "openai-strict")["function"]["parameters"])
    plain = Draft202012Validator(template_tool("rich_application", c, "openai")["function"]["parameters"])
    strict_call = {**RICH_FULL, "_declined": None, "_handoff": None, "_clear": None}
    assert list(strict.iter_errors(strict_call)) == [] and list(plain.iter_errors(RICH_FULL)) == []
    # strict: every field and reserved argument is sent; null is "not given", _clear names what to remove
    not_given = {**strict_call, "contact": None, "payment": None, "kind": None, "tags": None, "home": None}
    assert list(strict.iter_errors(not_given)) == []
    assert list(strict.iter_errors({**not_given, "_clear": ["tags"], "_declined": ["kind"]})) == []
    assert list(strict.iter_errors({**not_given, "_declined": ["home"]})) != []  # required: not declinable
    # plain: a few fields, any of them null
    assert list(plain.iter_errors({"kind": None, "amount": 2000})) == []
    assert list(plain.iter_errors({"unknown": 1})) != []


def test_names_are_valid_unique_and_depend_on_the_template_name_only():
    names = [tool_name(n) for n, _ in TEMPLATES]
    assert len(set(names)) == len(names) and all(TOOL_NAME.match(n) for n in names)
    assert tool_name("loan_application") == "update_loan_application"
    assert LONG_A[:64] == LONG_B[:64] and tool_name(LONG_A) != tool_name(LONG_B)
    assert tool_name(LONG_A) == tool_name(LONG_A) and len(tool_name(LONG_A)) == 64
    assert TOOL_NAME.match(tool_for(compiled(RICH), "update prêt", "d", "openai")["function"]["name"])
    assert tool_name("a.b") != tool_name("a_b")


def test_tool_route_per_dialect_and_version(api, make_workflow_template):
    template = make_workflow_template(name=LONG_A, state_schema=RICH)
    base = f"/api/workflow-templates/{template['id']}"
    r = api.get(f"{base}/tool", role="viewer")
    assert r.status_code == 200 and r.json["type"] == "function" and "strict" not in r.json["function"]
    assert r.json["function"]["name"] == tool_name(LONG_A)
    by_name = api.get(f"/api/workflow-templates/{LONG_A}/tool?dialect=anthropic", role="integration")
    assert by_name.status_code == 200 and set(by_name.json) == {"name", "description", "input_schema"}

    api.put(base, {"state_schema": {"note": {"type": "string"}}})
    v1 = api.get(f"{base}/versions/1/tool?dialect=openai-responses", role="operator").json
    v2 = api.get(f"{base}/versions/2/tool?dialect=openai-responses").json
    assert v1["name"] == v2["name"] == tool_name(LONG_A)
    assert "home" in v1["parameters"]["properties"] and list(v2["parameters"]["properties"]) == ["note", *RESERVED]
    strict_required = api.get(f"{base}/tool?dialect=openai-strict").json["function"]["parameters"]["required"]
    assert strict_required == ["note", *RESERVED]

    bad = api.get(f"{base}/tool?dialect=gemini")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert all(d in bad.json["detail"] for d in DIALECTS) and bad.json["errors"][0]["path"] == "/query/dialect"
    assert api.get(f"{base}/versions/9/tool").status_code == 404
    assert api.get("/api/workflow-templates/no_such_template/tool").status_code == 404
    assert api.get(f"{base}/tool", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_context_tool_dialects_and_what_null_does(api, make_workflow):
    wf = make_workflow(state_schema=RICH)
    url = f"/api/workflows/{wf['id']}"
    default = api.get(f"{url}/context", role="integration").json["tool"]
    assert set(default) == {"type", "function"} and set(default["function"]) == {"name", "description", "parameters"}
    assert api.get(f"{url}/context?dialect=nope", role="integration").status_code == 422

    tool = api.get(f"{url}/context?dialect=openai-strict", role="integration").json["tool"]
    schema = Draft202012Validator(tool["function"]["parameters"])
    full = {**RICH_FULL, "_declined": None, "_handoff": None, "_clear": None}
    assert list(schema.iter_errors(full)) == []
    calls = f"{url}/tool-calls"
    r = api.post(calls, {"arguments": json.dumps(full), "dialect": "openai-strict"}, role="integration")
    assert r.status_code == 200 and r.json["refused"] == [] and r.json["can_complete"] is True
    assert api.get(url).json["state_data"] == RICH_FULL

    # the tool's word for null is what the tool call does: in strict mode "not given", _clear removes
    assert STRICT_NULL_MEANING in tool["function"]["description"]
    call = {**full, "tags": None, "contact": None, "_clear": ["kind"]}
    assert list(schema.iter_errors(call)) == []
    r = api.post(calls, {"arguments": call, "dialect": "openai-strict"}, role="integration")
    assert r.status_code == 200 and r.json["refused"] == []
    state = api.get(url).json["state_data"]
    assert state["tags"] == RICH_FULL["tags"] and state["contact"] == RICH_FULL["contact"] and "kind" not in state
    # in the plain dialect (and in a PUT) null clears
    assert NULL_MEANING in default["function"]["description"]
    r = api.post(calls, {"arguments": {"tags": None}, "dialect": "openai"}, role="integration")
    assert r.status_code == 200 and "tags" not in api.get(url).json["state_data"]
