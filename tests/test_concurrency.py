"""Concurrent writers against a running server over HTTP (SQLite by default, PostgreSQL in CI)."""

from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from wfapp.models import Job, Workflow, WorkflowEvent


def _workflow(api, make_workflow, **kw):
    wf = make_workflow(
        state_schema={"amount": {"type": "number"}, **{f"k{i}": {"type": "integer"} for i in range(20)}},
        end_action_type="api_call",
        end_action_target={"endpoint": "https://bank.example/loans"},
        **kw,
    )
    return wf


def test_concurrent_merges_of_different_keys_all_survive(api, db, live_server, make_workflow):
    wf = _workflow(api, make_workflow)
    url = f"{live_server.url}/api/workflows/{wf['id']}"
    headers = api.headers("integration")

    def merge(i):
        with requests.Session() as s:
            return s.put(url, json={"state_data": {f"k{i}": i}}, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(merge, range(20)))
    assert codes == [200] * 20
    state = requests.get(url, headers=headers, timeout=10).json()["state_data"]
    assert state == {f"k{i}": i for i in range(20)}
    merges = db.count(WorkflowEvent, WorkflowEvent.type == "state_updated")
    assert merges == 20
    seqs = db.scalars(sa.select(WorkflowEvent.seq).order_by(WorkflowEvent.seq))
    assert seqs == list(range(1, 22))


def test_concurrent_completions_exactly_one_wins(api, db, live_server, make_workflow):
    wf = _workflow(api, make_workflow)
    url = f"{live_server.url}/api/workflows/{wf['id']}"
    headers = api.headers("integration")

    def complete(_):
        with requests.Session() as s:
            r = s.put(url, json={"status": "completed"}, headers=headers, timeout=60)
            return r.status_code

    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(complete, range(10)))
    assert codes == [200] + [409] * 9
    assert db.count(Job) == 1
    assert db.scalar(sa.select(Workflow.status)) == "completed"


def test_concurrent_starts_in_one_conversation_make_one_workflow(
    api, db, live_server, make_end_user, make_workflow_template
):
    user = make_end_user()
    t = make_workflow_template(grant_to=[user["user_type_id"]])
    headers = api.headers("integration")
    body = {"template_id": t["id"], "conversation_id": "conv_race", "user_id": user["id"]}

    def start(_):
        with requests.Session() as s:
            r = s.post(f"{live_server.url}/api/workflows", json=body, headers=headers, timeout=60)
            return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(start, range(8)))
    codes = sorted(c for c, _ in results)
    assert codes == [201] + [409] * 7
    winner = next(b["id"] for c, b in results if c == 201)
    assert all(b["existing_id"] == winner for c, b in results if c == 409)
    assert db.count(Workflow) == 1
