"""The description's "Lifecycle Example" and "Example Scenario", with its calls as written there
(placeholder ids replaced by real ones; user types and end users registered first)."""

import sqlalchemy as sa

from wfapp.models import Job, JobKind


def register(api, user_type_id, user_id):
    assert api.post("/api/user-types", {"id": user_type_id}).status_code == 201
    assert api.post("/api/users", {"id": user_id, "user_type_id": user_type_id}).status_code == 201


def test_lifecycle_example(api, app, db):
    register(api, "premium_users", "user_456")

    # 1. Create Template (One Time)
    r = api.post("/api/workflow-templates", {
        "name": "loan_application",
        "state_schema": {
            "amount": {"type": "number", "required": True},
            "purpose": {"type": "string", "required": True},
        },
        "guidelines": "Guide the applicant...",
        "end_action_type": "api_call",
        "end_action_target": {"endpoint": "https://api.bank.com/loans/apply", "method": "POST"},
    })
    assert r.status_code == 201, r.json
    template_id = r.json["id"]
    assert r.json["name"] == "loan_application" and r.json["version"] == 1

    # 2. Assign Permission (One Time)
    r = api.post("/api/permissions", {"user_type_id": "premium_users", "workflow_template_id": template_id})
    assert r.status_code == 201, r.json

    # 3. Create Instance
    r = api.post("/api/workflows", {"template_id": template_id, "conversation_id": "conv_123", "user_id": "user_456"},
                 role="integration")
    assert r.status_code == 201, r.json
    workflow = r.json
    assert workflow["status"] == "active"
    assert workflow["template_id"] == template_id
    assert (workflow["conversation_id"], workflow["user_id"]) == ("conv_123", "user_456")
    assert workflow["state_data"] == {} and workflow["completed_at"] is None

    # 4. Update Instance
    r = api.put(f"/api/workflows/{workflow['id']}", {"state_data": {"amount": 50000, "purpose": "Home improvement"}},
                role="integration")
    assert r.status_code == 200, r.json
    assert r.json["state_data"] == {"amount": 50000, "purpose": "Home improvement"}

    # 5. Complete Instance
    r = api.put(f"/api/workflows/{workflow['id']}", {"status": "completed"}, role="integration")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed" and r.json["completed_at"]

    # the end action is waiting in the outbox, with the body the bank will get
    jobs = db.scalars(sa.select(Job))
    assert len(jobs) == 1
    job = jobs[0]
    assert job.kind == JobKind.END_ACTION
    assert job.payload["target"]["endpoint"] == "https://api.bank.com/loans/apply"
    assert job.payload["body"]["state_data"] == {"amount": 50000, "purpose": "Home improvement"}
    assert job.payload["body"]["workflow_id"] == workflow["id"]

    events = api.get(f"/api/workflows/{workflow['id']}/events").json["items"]
    assert [e["type"] for e in events] == ["started", "state_updated", "status_changed"]
    assert events[-1]["data"]["status"] == {"from": "active", "to": "completed"}
