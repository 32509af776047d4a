"""A scripted chat LLM that knows nothing of the template: it reads only GET /context, answers
the next field from its hint, example or choices, and writes through POST /tool-calls. For each
field type it first sends a wrong answer derived from the type, reads the refusal, then the right
one; it declines one optional field, asks for a human, and completes once an operator hands back."""

import json

import pytest
from test_tools import RICH as TOOL_RICH

from wfapp import demo

RICH = {
    "type": "object",
    "$defs": {"address": TOOL_RICH["$defs"]["address"]},
    "properties": {
        "home": {"$ref": "#/$defs/address", "title": "Home address"},
        "contact": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}, "phone": {"type": "string"}},
            "required": ["email"],
        },
        "payment": {
            "oneOf": [
                {
                    "type": "object",
                    "title": "Bank account",
                    "properties": {"iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}$"}},
                    "required": ["iban"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "title": "Card",
                    "properties": {"card": {"type": "string", "pattern": "^[0-9]{16}$"}},
                    "required": ["card"],
                    "additionalProperties": False,
                },
            ]
        },
        "kind": {"enum": ["new", "renewal"]},
        "born": {"type": "string", "format": "date", "title": "Date of birth"},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "reference": {"type": "string", "pattern": "^REF-[0-9]{6}$"},
        "count": {"type": "integer", "minimum": 1, "maximum": 9},
        "nickname": {"type": "string"},
    },
    "required": ["home", "contact", "payment", "kind", "born", "email", "reference"],
}
RICH_TEMPLATE = {"name": "rich_application", "state_schema": RICH, "guidelines": "Collect everything."}


def wrong_answer(entry):
    """A value of the wrong form, derived from the field's type as the context states it."""
    kind = entry["type"]
    if entry.get("choices"):
        return "none of these"
    if kind in ("number", "integer"):
        return "a lot"
    if kind in ("string", "text"):
        return 12345
    if kind == "date":
        return "17/05/2024"
    if kind == "email":
        return "not-an-email"
    if kind == "phone":
        return "call me"
    if kind == "boolean":
        return "maybe"
    if kind.startswith("array of"):
        return "not a list"
    if kind == "object":
        return "not an object"
    if kind.startswith("one of:"):
        return []
    raise AssertionError(f"no wrong answer for type {kind!r}")


def right_answer(entry):
    if entry.get("choices"):
        return entry["choices"][0]
    assert entry["example"] is not None, f"the context gives no example for {entry['name']}: {entry['hint']}"
    return entry["example"]


class ChatLLM:
    def __init__(self, api, workflow_id, dialect):
        self.api, self.url, self.dialect = api, f"/api/workflows/{workflow_id}", dialect

    def context(self):
        r = self.api.get(f"{self.url}/context?dialect={self.dialect}", role="integration")
        assert r.status_code == 200, r.json
        return r.json

    def call(self, arguments):
        # OpenAI hands over the arguments as a JSON string, Anthropic as an object
        sent = json.dumps(arguments) if self.dialect == "openai" else arguments
        r = self.api.post(f"{self.url}/tool-calls", {"arguments": sent, "dialect": self.dialect}, role="integration")
        assert r.status_code == 200, r.json
        assert r.json["text"]
        return r.json


def converse(api, workflow_id, dialect, refused_types):
    llm = ChatLLM(api, workflow_id, dialect)
    declined = None
    for _ in range(60):
        ctx = llm.context()
        if ctx["next_field"] is None:
            break
        entry = next(f for f in ctx["missing_fields"] if f["name"] == ctx["next_field"])
        assert ctx["next"]["field"] == entry["name"] and entry["hint"] in ctx["next"]["question_hint"]
        name = entry["name"]
        if not entry["required"] and declined is None and entry["type"] in refused_types:
            declined = name
            result = llm.call({"_declined": [name]})
            assert result["refused"] == [] and (result["next"] or {}).get("field") != name
            ctx = llm.context()
            assert ctx["next_field"] != name and name in [d["field"] for d in ctx["declined"]]
            continue
        if entry["type"] not in refused_types:
            refused_types.add(entry["type"])
            bad = wrong_answer(entry)
            result = llm.call({name: bad})
            assert [r["field"] for r in result["refused"]] == [name], result
            assert result["stored"] == {} and result["refused"][0]["hint"]
            assert name in result["text"] or entry["title"] in result["text"]
            again = next(f for f in llm.context()["missing_fields"] if f["name"] == name)
            refusal = again["last_refusal"]
            assert refusal["count"] == 1 and refusal["message"] and refusal["at"]
            if entry["schema"].get("x-sensitive") or "value" not in refusal:
                pass
            else:
                assert refusal["value"] == bad
            assert refusal["message"] in again["hint"]
        result = llm.call({name: right_answer(entry)})
        assert result["refused"] == [] and name in result["stored"], result
    else:
        raise AssertionError("the conversation did not end")
    return llm, declined


def handoff_and_complete(api, llm, declined):
    ctx = llm.context()
    assert ctx["missing_required"] == [] and ctx["can_complete"] is True, ctx["blocking_reasons"]
    result = llm.call({"_handoff": "the user asks to speak to a person"})
    assert result["handoff"]["source"] == "llm" and result["can_complete"] is False
    assert "person" in result["text"]
    ctx = llm.context()
    assert ctx["handoff"]["reason"] == "the user asks to speak to a person" and ctx["handoff"]["since"]
    assert [b["reason"] for b in ctx["blocking_reasons"]] == ["handoff"]
    assert api.post(f"{llm.url}/hand-back", role="integration").status_code == 403
    back = api.post(f"{llm.url}/hand-back", role="operator")
    assert back.status_code == 200 and back.json["handoff"] is None and back.json["can_complete"] is True
    types = [e["type"] for e in api.get(f"{llm.url}/events").json["items"]]
    assert "handoff_requested" in types and "handoff_returned" in types
    if declined:
        assert "field_declined" in types
    done = api.put(llm.url, {"status": "completed"}, role="integration")
    assert done.status_code == 200 and done.json["status"] == "completed", done.json
    assert api.post(f"{llm.url}/tool-calls", {"arguments": "{}"}, role="integration").status_code == 409


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_a_chat_llm_fills_every_demo_template_and_a_rich_one_from_the_context_alone(
    api, make_user_type, make_end_user, dialect
):
    user_type = make_user_type()["id"]
    user = make_end_user(user_type_id=user_type)
    refused_types: set[str] = set()
    declined_any = []
    # the identity check first: the credit card application waits on it
    for definition in (demo.KYC_VERIFICATION, demo.LOAN_APPLICATION, demo.CREDIT_CARD_APPLICATION, RICH_TEMPLATE):
        created = api.post("/api/workflow-templates", definition)
        assert created.status_code == 201, created.json
        api.post("/api/permissions", {"user_type_id": user_type, "workflow_template_id": created.json["id"]})
        wf = api.post(
            "/api/workflows",
            {"template_id": definition["name"], "user_id": user["id"], "conversation_id": f"c-{definition['name']}"},
            role="integration",
        )
        assert wf.status_code == 201, wf.json
        llm, declined = converse(api, wf.json["id"], dialect, refused_types)
        declined_any.append(declined)
        handoff_and_complete(api, llm, declined)
    assert any(declined_any)
    assert {
        "string",
        "number",
        "integer",
        "date",
        "email",
        "phone",
        "enum",
        "object",
        "array of string",
    } <= refused_types
    assert any(t.startswith("one of: ") for t in refused_types)


def test_the_context_states_types_hints_and_refusals(api, make_workflow):
    wf = make_workflow(state_schema=RICH)
    url = f"/api/workflows/{wf['id']}"
    ctx = api.get(f"{url}/context", role="integration").json
    fields = {f["name"]: f for f in ctx["missing_fields"]}
    assert fields["home"]["type"] == "object" and "street (string, required)" in fields["home"]["hint"]
    assert fields["tags"]["type"] == "array of string"
    assert fields["payment"]["type"] == "one of: Bank account (object), Card (object)"
    assert fields["kind"]["choices"] == ["new", "renewal"] and "one of: new, renewal" in fields["kind"]["hint"]
    assert fields["born"]["type"] == "date" and "YYYY-MM-DD" in fields["born"]["hint"]
    assert fields["reference"]["example"] == "REF-000000"
    assert ctx["can_complete"] is False
    assert ctx["blocking_reasons"][0]["reason"] == "missing"
    # a PUT refused: 422 as before, and the context remembers it
    r = api.put(url, {"state_data": {"born": "yesterday"}}, role="integration")
    assert r.status_code == 422
    born = next(f for f in api.get(f"{url}/context").json["missing_fields"] if f["name"] == "born")
    assert born["last_refusal"]["value"] == "yesterday" and born["last_refusal"]["count"] == 1
    assert "is not a valid date" in born["last_refusal"]["message"]
