"""What the workflow's own API answer (GET/PUT /api/workflows/{id} and the list) tells a caller
besides its data: the suspension, the handoff to an operator and the fields the end user declined."""

OPTIONAL_SCHEMA = {
    "amount": {"type": "number", "required": True, "minimum": 1000},
    "phone": {"type": "string"},
}


def test_the_answer_shows_suspension_handoff_and_declined_fields(api, make_workflow):
    wf = make_workflow(state_schema=OPTIONAL_SCHEMA)
    url = f"/api/workflows/{wf['id']}"
    assert wf["suspended"] is None and wf["handoff"] is None and wf["declined"] == []
    assert wf["waiting_for"] is None

    r = api.post(f"{url}/declined", {"field": "phone", "reason": "prefers e-mail"}, role="integration")
    assert r.status_code == 200, r.json
    r = api.post(f"{url}/handoff", {"reason": "the user asks for a person"}, role="integration")
    assert r.status_code == 200, r.json
    r = api.post(f"{url}/suspend", {"reason": "fraud check"}, role="operator")
    assert r.status_code == 200, r.json

    got = api.get(url).json
    assert got["declined"] == ["phone"]
    assert got["handoff"]["reason"] == "the user asks for a person" and got["handoff"]["source"] == "llm"
    assert got["handoff"]["since"].endswith("Z")
    assert got["suspended"]["reason"] == "fraud check" and got["suspended"]["since"].endswith("Z")
    (listed,) = [w for w in api.get(f"/api/workflows?user_id={wf['user_id']}").json["items"] if w["id"] == wf["id"]]
    assert {k: listed[k] for k in ("declined", "handoff", "suspended")} == {
        k: got[k] for k in ("declined", "handoff", "suspended")
    }

    assert api.post(f"{url}/resume", role="operator").status_code == 200
    assert api.post(f"{url}/hand-back", role="operator").status_code == 200
    got = api.get(url).json
    assert got["suspended"] is None and got["handoff"] is None and got["declined"] == ["phone"]
    # a value for the declined field means the user changed their mind
    r = api.put(url, {"state_data": {"phone": "+41 44 000 00 00"}}, role="integration")
    assert r.status_code == 200 and r.json["declined"] == []
