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
    r = api.post(
        "/api/workflow-templates",
        {
            "name": "loan_application",
            "state_schema": {
                "amount": {"type": "number", "required": True},
                "purpose": {"type": "string", "required": True},
            },
            "guidelines": "Guide the applicant...",
            "end_action_type": "api_call",
            "end_action_target": {"endpoint": "https://api.bank.com/loans/apply", "method": "POST"},
        },
    )
    assert r.status_code == 201, r.json
    template_id = r.json["id"]
    assert r.json["name"] == "loan_application" and r.json["version"] == 1

    # 2. Assign Permission (One Time)
    r = api.post("/api/permissions", {"user_type_id": "premium_users", "workflow_template_id": template_id})
    assert r.status_code == 201, r.json

    # 3. Create Instance
    r = api.post(
        "/api/workflows",
        {"template_id": template_id, "conversation_id": "conv_123", "user_id": "user_456"},
        role="integration",
    )
    assert r.status_code == 201, r.json
    workflow = r.json
    assert workflow["status"] == "active"
    assert workflow["template_id"] == template_id
    assert (workflow["conversation_id"], workflow["user_id"]) == ("conv_123", "user_456")
    assert workflow["state_data"] == {} and workflow["completed_at"] is None

    # 4. Update Instance
    r = api.put(
        f"/api/workflows/{workflow['id']}",
        {"state_data": {"amount": 50000, "purpose": "Home improvement"}},
        role="integration",
    )
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


def test_example_scenario(api, app, db):
    """Loan Application System: the KYC dependency is checked by a KYC service and the completed
    application is submitted to the bank's API, both real HTTP servers on 127.0.0.1."""
    from receivers import FAST, Receiver, drain

    from wfapp.outbox.http import verify_signature

    app.config.update(FAST)
    register(api, "verified_users", "john_doe")
    with Receiver([{"decision": "approved"}]) as kyc_service, Receiver([201]) as bank:
        # Step 1: Create Template (Admin)
        r = api.post(
            "/api/workflow-templates",
            {
                "name": "loan_application",
                "state_schema": {
                    "amount": {"type": "number", "required": True},
                    "purpose": {"type": "string", "required": True},
                },
                "workflow_dependencies": [
                    {
                        "name": "kyc_verification",
                        "api": {
                            "endpoint": f"{kyc_service.url}/kyc/check",
                            "method": "POST",
                            "body": {"user": "{{workflow.user_id}}"},
                        },
                        "on_failure": {"action": "fail", "message": "identity could not be verified"},
                    }
                ],
                "end_action_type": "api_call",
                "end_action_target": {
                    "endpoint": f"{bank.url}/loans/apply",
                    "method": "POST",
                },
            },
        )
        assert r.status_code == 201, r.json
        loan_application_template_id = r.json["id"]

        # Step 2: Assign Permission (Admin)
        r = api.post(
            "/api/permissions", {"user_type_id": "verified_users", "workflow_template_id": loan_application_template_id}
        )
        assert r.status_code == 201, r.json

        # Step 3: User Starts Workflow
        r = api.post(
            "/api/workflows",
            {"template_id": loan_application_template_id, "conversation_id": "conv_123", "user_id": "john_doe"},
            role="integration",
        )
        assert r.status_code == 201, r.json
        workflow_id = r.json["id"]
        assert r.json["status"] == "waiting" and r.json["waiting_for"]["name"] == "kyc_verification"

        # Step 4: User Provides Data (while the KYC check runs)
        r = api.put(
            f"/api/workflows/{workflow_id}",
            {"state_data": {"amount": 50000, "purpose": "Home improvement"}},
            role="integration",
        )
        assert r.status_code == 200, r.json
        drain(app, db)  # the KYC service approves: the workflow resumes
        assert api.get(f"/api/workflows/{workflow_id}").json["status"] == "active"

        # Step 5: Complete Workflow
        r = api.put(f"/api/workflows/{workflow_id}", {"status": "completed"}, role="integration")
        assert r.status_code == 200, r.json
        assert r.json["status"] == "completed"
        drain(app, db)  # "API called to submit loan application"

    assert [req.json() for req in kyc_service.requests] == [{"user": "john_doe"}]
    assert len(bank.requests) == 1
    submitted = bank.requests[0]
    assert submitted.path == "/loans/apply"
    body = submitted.json()
    assert body["workflow_id"] == workflow_id and body["template"] == "loan_application"
    assert (body["user_id"], body["conversation_id"]) == ("john_doe", "conv_123")
    assert body["state_data"]["amount"] == 50000 and body["state_data"]["purpose"] == "Home improvement"
    assert verify_signature(app.config["SIGNING_SECRET"], submitted.body, submitted.headers["X-Wfapp-Signature"])
    job = db.scalar(sa.select(Job).where(Job.kind == JobKind.END_ACTION))
    assert job.status == "succeeded" and submitted.headers["Idempotency-Key"] == job.idempotency_key
