"""flask --app app create-user | create-token | seed-demo | quickstart"""

import sqlalchemy as sa

from wfapp.config import Defaults
from wfapp.models import ApiToken, StaffUser, Workflow, WorkflowTemplate
from wfapp.models.workflows import WorkflowStatus


def test_create_token_prints_it_alone_on_the_last_line(app, client):
    result = app.test_cli_runner().invoke(args=["create-token", "chat", "--role", "integration"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("wf_") and " " not in token
    assert client.get("/api/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert (
        client.post("/api/workflow-templates", json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    )


def test_create_user_with_password_option_and_prompt(app, db):
    # the suite hashes with a cheap method; this test checks the production default
    assert Defaults.PASSWORD_HASH_METHOD == "scrypt"
    app.config["PASSWORD_HASH_METHOD"] = Defaults.PASSWORD_HASH_METHOD
    runner = app.test_cli_runner()
    r = runner.invoke(args=["create-user", "alice", "--role", "operator", "--password", "correct horse"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["create-user", "bob", "--role", "viewer"], input="battery staple\nbattery staple\n")
    assert r.exit_code == 0, r.output
    users = {u.username: u.role for u in db.scalars(sa.select(StaffUser))}
    assert users == {"alice": "operator", "bob": "viewer"}
    assert all(u.password_hash.startswith("scrypt:") for u in db.scalars(sa.select(StaffUser)))
    r = runner.invoke(args=["create-user", "alice", "--role", "admin", "--password", "another one"])
    assert r.exit_code != 0 and "exists" in r.output
    r = runner.invoke(args=["create-user", "carol", "--password", "short"])
    assert r.exit_code != 0
    assert db.count(StaffUser) == 2


def test_seed_demo_has_workflows_in_every_status_and_runs_once(app, db):
    runner = app.test_cli_runner()
    assert "loaded" in runner.invoke(args=["seed-demo"]).output
    assert "already" in runner.invoke(args=["seed-demo"]).output
    names = set(db.scalars(sa.select(WorkflowTemplate.name)))
    assert {"loan_application", "kyc_verification"} <= names
    statuses = set(db.scalars(sa.select(Workflow.status)))
    assert statuses == set(WorkflowStatus)


def test_quickstart_prints_a_working_login_and_token(app, client, db):
    out = app.test_cli_runner().invoke(args=["quickstart"]).output
    assert "password" in out
    token = out.strip().splitlines()[-1].split()[-1]
    assert (
        client.get("/api/workflow-templates/loan_application", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    again = app.test_cli_runner().invoke(args=["quickstart"]).output
    assert again == out  # the same login, printed on every run
    assert db.count(ApiToken) == 1
