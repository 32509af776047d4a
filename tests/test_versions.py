"""A running workflow stays on the version it started with; new ones take the current version."""


def test_workflows_keep_their_version(api, make_end_user, make_workflow_template):
    user = make_end_user()
    t = make_workflow_template(
        grant_to=[user["user_type_id"]], state_schema={"amount": {"type": "number", "required": True, "minimum": 1000}}
    )

    def start(conv):
        r = api.post(
            "/api/workflows",
            {"template_id": t["name"], "conversation_id": conv, "user_id": user["id"]},
            role="integration",
        )
        assert r.status_code == 201
        return r.json

    old = start("c1")
    r = api.put(f"/api/workflows/{old['id']}", {"state_data": {"amount": 1500}}, role="integration")
    assert r.status_code == 200
    v2 = api.put(
        f"/api/workflow-templates/{t['id']}",
        {
            "state_schema": {
                "amount": {"type": "number", "required": True, "minimum": 2000},
                "purpose": {"type": "string", "required": True},
            },
            "change_note": "higher minimum, purpose required",
        },
    )
    assert v2.json["version"] == 2
    new = start("c2")
    assert (old["template_version"], new["template_version"]) == (1, 2)
    assert api.get(f"/api/workflows/{old['id']}").json["template_version"] == 1

    # the old workflow is still validated by version 1: 1500 stays valid, purpose is not required
    assert (
        api.put(f"/api/workflows/{old['id']}", {"state_data": {"amount": 1200}}, role="integration").status_code == 200
    )
    assert api.put(f"/api/workflows/{old['id']}", {"status": "completed"}, role="integration").status_code == 200
    # the new one by version 2
    r = api.put(f"/api/workflows/{new['id']}", {"state_data": {"amount": 1500}}, role="integration")
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "/state_data/amount"
    r = api.put(
        f"/api/workflows/{new['id']}", {"status": "completed", "state_data": {"amount": 2500}}, role="integration"
    )
    assert r.status_code == 422 and [e["path"] for e in r.json["errors"]] == ["/state_data/purpose"]
    assert [w["template_version"] for w in api.get(f"/api/workflows?template={t['name']}&version=2").json["items"]] == [
        2
    ]
