"""POST /api/workflows/{id}/tool-calls: the arguments of each dialect, partial refusals, what null
means; declined fields, ask_optional, handoff and hand-back, escalation after repeated refusals."""

import json

import pytest

from wfapp.models import AuditEntry
from wfapp.schemas.tools import RESERVED

SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000, "title": "Loan amount"},
    "purpose": {"type": "string", "required": True},
    "email": {"type": "email"},
    "phone": {"type": "phone", "sensitive": True},
    "nickname": {"type": "string"},
}
FULL = {"amount": 5000, "purpose": "a car", "email": "a@example.com", "phone": "+32 9 123 45 67", "nickname": "Al"}


def _call(api, wf, arguments, dialect=None, role="integration"):
    body = {"arguments": arguments, **({"dialect": dialect} if dialect else {})}
    return api.post(f"/api/workflows/{wf['id']}/tool-calls", body, role=role)


def _state(api, wf):
    return api.get(f"/api/workflows/{wf['id']}").json["state_data"]


def _context(api, wf):
    return api.get(f"/api/workflows/{wf['id']}/context", role="integration").json


@pytest.mark.parametrize(
    ("dialect", "as_string"),
    [
        ("openai", True),
        ("openai", False),
        ("openai-strict", True),
        ("openai-responses", True),
        ("anthropic", False),
        ("json-schema", False),
        (None, True),
    ],
)
def test_each_dialect_s_arguments_are_stored(api, make_workflow, dialect, as_string):
    wf = make_workflow(state_schema=SCHEMA)
    args = dict(FULL)
    if dialect in ("openai-strict", "openai-responses"):
        args.update({k: None for k in RESERVED})
    r = _call(api, wf, json.dumps(args) if as_string else args, dialect)
    assert r.status_code == 200, r.json
    assert r.json["refused"] == [] and r.json["can_complete"] is True and r.json["missing_required"] == []
    assert r.json["stored"] == {**FULL, "phone": "••••"}  # a sensitive value is not repeated
    assert "can be completed" in r.json["text"]
    assert _state(api, wf) == FULL
    events = api.get(f"/api/workflows/{wf['id']}/events").json["items"]
    assert events[-1]["type"] == "state_updated" and events[-1]["data"]["source"] == "tool_call"


def test_a_partly_invalid_call_stores_the_valid_fields_and_names_the_refused_ones(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    r = _call(api, wf, {"amount": 10, "purpose": "a car", "email": "nope", "colour": "red"}, "openai")
    assert r.status_code == 200
    assert r.json["stored"] == {"purpose": "a car"}
    refused = {x["field"]: x for x in r.json["refused"]}
    assert set(refused) == {"amount", "email", "colour"}
    assert "1000" in refused["amount"]["message"] and "at least 1000" in refused["amount"]["hint"]
    assert refused["email"]["message"] == "is not a valid email" and "email address" in refused["email"]["hint"]
    assert refused["colour"]["message"] == "is not a field of this workflow"
    assert "Refused Loan amount" in r.json["text"] and r.json["next"]["field"] == "amount"
    assert _state(api, wf) == {"purpose": "a car"}
    ctx = _context(api, wf)
    amount = next(f for f in ctx["missing_fields"] if f["name"] == "amount")
    assert amount["last_refusal"]["value"] == 10 and amount["last_refusal"]["count"] == 1
    # the same body in a PUT is refused as a whole, as before
    put = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"amount": 10, "nickname": "x"}}, role="integration")
    assert put.status_code == 422 and "nickname" not in _state(api, wf)
    again = next(f for f in _context(api, wf)["missing_fields"] if f["name"] == "amount")
    assert again["last_refusal"]["count"] == 2
    # once stored, the refusal is forgotten
    assert _call(api, wf, {"amount": 2000}).json["refused"] == []
    assert "amount" not in [f["name"] for f in _context(api, wf)["missing_fields"]]


def test_a_sensitive_refused_value_is_not_kept(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    _call(api, wf, {"phone": "call me"})
    phone = next(f for f in _context(api, wf)["missing_fields"] if f["name"] == "phone")
    assert phone["last_refusal"]["message"] == "is not a valid phone number" and "value" not in phone["last_refusal"]


def test_what_null_means_per_dialect(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    _call(api, wf, FULL)
    strict = {k: None for k in [*SCHEMA, *RESERVED]}
    # strict: null is "not given"
    r = _call(api, wf, json.dumps({**strict, "nickname": "Bo"}), "openai-strict")
    assert r.status_code == 200 and r.json["stored"] == {"nickname": "Bo"}
    assert _state(api, wf) == {**FULL, "nickname": "Bo"}
    # strict without a dialect: recognised by every field and reserved argument being sent
    assert _call(api, wf, json.dumps(strict)).json["stored"] == {}
    assert _state(api, wf)["email"] == FULL["email"]
    # strict: _clear removes
    r = _call(api, wf, {**strict, "_clear": ["email"]}, "openai-responses")
    assert r.json["stored"] == {"email": None} and "email" not in _state(api, wf)
    # plain: null clears (as a PUT)
    assert _call(api, wf, {"nickname": None}, "anthropic").json["refused"] == []
    assert "nickname" not in _state(api, wf)


def test_malformed_calls_unknown_and_finished_workflows(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    for body in (
        {"arguments": "{not json"},
        {"arguments": "[1]"},
        {"arguments": [1]},
        {},
        {"arguments": {}, "dialect": "x"},
    ):
        r = api.post(f"/api/workflows/{wf['id']}/tool-calls", body, role="integration")
        assert r.status_code == 422 and r.mimetype == "application/problem+json", body
    assert _call(api, wf, {"_declined": "nickname", "_handoff": 3}).status_code == 422
    assert _state(api, wf) == {}
    assert api.post("/api/workflows/nope/tool-calls", {"arguments": {}}, role="integration").status_code == 404
    assert _call(api, wf, {}, role="viewer").status_code == 403
    api.put(f"/api/workflows/{wf['id']}", {"status": "cancelled"}, role="integration")
    assert _call(api, wf, {"amount": 2000}).status_code == 409


def test_declined_fields_and_ask_optional(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    url = f"/api/workflows/{wf['id']}/declined"
    assert api.post(url, {"field": "amount"}, role="integration").status_code == 422  # required
    assert api.post(url, {"field": "nope"}, role="integration").status_code == 422
    _call(api, wf, {"amount": 2000, "purpose": "a car"})
    assert _context(api, wf)["next_field"] == "email"
    r = api.post(url, {"field": "email", "reason": "does not want to say"}, role="integration")
    assert r.status_code == 200 and r.json["next_field"] == "phone"
    assert r.json["declined"][0]["field"] == "email" and r.json["declined"][0]["reason"] == "does not want to say"
    # through the tool: a required field cannot be declined, an optional one can
    r = _call(api, wf, {"_declined": ["phone", "purpose"]})
    assert [x["field"] for x in r.json["refused"]] == ["purpose"] and r.json["next"]["field"] == "nickname"
    # a declined field the user gives after all is stored, and no longer declined
    _call(api, wf, {"email": "a@example.com"})
    assert [d["field"] for d in _context(api, wf)["declined"]] == ["phone"]

    skip = make_workflow(state_schema=SCHEMA, ask_optional=False)
    ctx = _context(api, skip)
    assert ctx["ask_optional"] is False and ctx["next_field"] == "amount"
    _call(api, skip, {"amount": 2000, "purpose": "x"})
    ctx = _context(api, skip)
    assert ctx["next_field"] is None and ctx["can_complete"] is True
    assert [f["name"] for f in ctx["missing_fields"]] == ["email", "phone", "nickname"]


def test_the_definition_s_conversation_settings_are_checked(api):
    base = {"name": "bad_settings", "state_schema": SCHEMA}
    for extra, path in (
        ({"ask_optional": "yes"}, "/ask_optional"),
        ({"escalation": {"after": 0}}, "/escalation/after"),
        ({"escalation": {"after": 2, "action": "shout"}}, "/escalation/action"),
        ({"state_schema": {"a": {"type": "string", "escalate_after": 0}}}, "/state_schema/a/escalate_after"),
        ({"state_schema": {"_handoff": {"type": "string"}}}, "/state_schema/_handoff"),
    ):
        r = api.post("/api/workflow-templates", {**base, **extra})
        assert r.status_code == 422, extra
        assert any(e["path"].startswith(path) for e in r.json["errors"]), (extra, r.json["errors"])
    r = api.post("/api/workflow-templates", {**base, "ask_optional": False, "escalation": {"after": 3}})
    assert r.status_code == 201 and r.json["ask_optional"] is False and r.json["escalation"] == {"after": 3}


def test_handoff_and_hand_back(api, app, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    url = f"/api/workflows/{wf['id']}"
    assert api.post(f"{url}/hand-back", role="operator").status_code == 409  # not handed off
    r = api.post(f"{url}/handoff", {"reason": "wants a person"}, role="integration")
    assert (
        r.status_code == 200
        and r.json["handoff"]["source"] == "llm"
        and r.json["handoff"]["reason"] == "wants a person"
    )
    assert r.json["can_complete"] is False and "handoff" in [b["reason"] for b in r.json["blocking_reasons"]]
    assert api.post(f"{url}/handoff", {"reason": ""}, role="integration").status_code == 422
    back = api.post(f"{url}/hand-back", role="operator")
    assert back.status_code == 200 and back.json["handoff"] is None
    with app.app_context():
        from wfapp.extensions import db

        actions = db.session.query(AuditEntry.action).filter(AuditEntry.target_id.contains(wf["id"])).all()
    assert ("api.hand_back",) in actions
    types = [e["type"] for e in api.get(f"{url}/events").json["items"]]
    assert types[-2:] == ["handoff_requested", "handoff_returned"]
    # the tool's own argument
    r = _call(api, wf, {"_handoff": "angry user"})
    assert r.json["handoff"]["reason"] == "angry user" and "operator" in r.json["text"]


def test_escalation_skips_an_optional_field_after_n_refusals(api, make_workflow):
    schema = {**SCHEMA, "email": {"type": "email", "escalate_after": 2}}
    wf = make_workflow(state_schema=schema)
    assert _call(api, wf, {"email": "x"}).json["escalations"] == []
    r = _call(api, wf, {"email": "y"})
    assert r.json["escalations"] == [{"field": "email", "action": "skipped", "after": 2}]
    assert "do not ask for it again" in r.json["text"]
    ctx = _context(api, wf)
    assert ctx["declined"][0]["field"] == "email" and ctx["declined"][0]["reason"] == "skipped after 2 refusals"
    assert "email" not in [f["name"] for f in ctx["missing_fields"]] and ctx["handoff"] is None


def test_escalation_hands_off_after_n_refusals(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA, escalation={"after": 2, "action": "handoff"})
    _call(api, wf, {"email": "x"})
    assert _context(api, wf)["handoff"] is None
    # a refused PUT counts too
    r = api.put(f"/api/workflows/{wf['id']}", {"state_data": {"email": "y"}}, role="integration")
    assert r.status_code == 422
    handoff = _context(api, wf)["handoff"]
    assert handoff["source"] == "validation" and "refused 2 times" in handoff["reason"]


def test_a_required_field_cannot_be_skipped_it_is_handed_off(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA, escalation={"after": 1, "action": "skip"})
    r = _call(api, wf, {"amount": 1})
    assert r.json["escalations"] == [{"field": "amount", "action": "handoff", "after": 1}]
    assert r.json["handoff"]["source"] == "validation"


def test_conditionally_required_fields_say_why(api, make_workflow):
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["person", "company"]},
            "vat": {"type": "string"},
        },
        "required": ["kind"],
        "if": {"properties": {"kind": {"const": "company"}}, "required": ["kind"]},
        "then": {"required": ["vat"]},
    }
    wf = make_workflow(state_schema=schema)
    assert _call(api, wf, {"kind": "company"}).json["stored"] == {"kind": "company"}
    ctx = _context(api, wf)
    assert ctx["missing_required"] == ["vat"]
    fields = {f["name"]: f for f in ctx["missing_fields"]}
    assert fields["vat"]["required"] is True and fields["vat"]["required_when"].startswith("when kind is 'company'")
    assert ctx["can_complete"] is False


def test_erasing_the_end_user_forgets_the_refused_values(api, make_workflow):
    wf = make_workflow(state_schema=SCHEMA)
    _call(api, wf, {"email": "ann at example"})
    assert api.delete(f"/api/users/{wf['user_id']}").status_code == 200
    email = next(f for f in _context(api, wf)["missing_fields"] if f["name"] == "email")
    assert "last_refusal" not in email
