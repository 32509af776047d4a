"""Schemathesis over every operation of /api/openapi.json, in-process through the app's WSGI
interface, with an admin token: no 5xx, documented status codes, answers that match their
schemas, and every 4xx as application/problem+json.

Bounded for the suite (WFAPP_FUZZ_EXAMPLES per operation, 8 by default); `make fuzz` runs it
longer. Each run writes its figures (operations, examples, failures) to stdout and, with
WFAPP_FUZZ_REPORT=path, to a JSON file."""

import hashlib
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from wfapp import create_app
from wfapp.api.events import MAX_WAIT_S
from wfapp.extensions import db
from wfapp.schemas.state_schema import clear_cache
from wfapp.services.tokens import create_token

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("WFAPP_FUZZ_EXAMPLES", "8"))
# The suite's run is reproducible; `make fuzz` sets WFAPP_FUZZ_RANDOM=1 to explore new inputs.
DERANDOMIZE = os.environ.get("WFAPP_FUZZ_RANDOM", "") not in ("1", "true")
_dir = tempfile.mkdtemp(prefix="wfapp-fuzz-")
# Hypothesis keeps a cache in .hypothesis/ of the working directory; a .hypothesis folder in the
# repository makes its pytest plugin warn at collection (norecursedirs is set), so keep it out.
set_hypothesis_home_dir(f"{_dir}/hypothesis")
app = create_app(
    {
        "TESTING": True,
        "INSTANCE_PATH": f"{_dir}/instance",
        "SECRET_KEY": "fuzz",
        "SIGNING_SECRET": "fuzz",
        "DISPATCHER_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{_dir}/fuzz.sqlite",
    }
)
KNOWN: dict[str, list[str]] = {}


def _seed() -> str:
    """An admin token, and one of each resource, so that some requests reach real rows."""
    clear_cache()
    with app.app_context():
        db.create_all()
        _t, secret = create_token(db.session, "fuzz-admin", "admin")
        db.session.commit()
    client = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    client.post("/api/user-types", json={"id": "fuzz_type"}, headers=h)
    client.post("/api/users", json={"id": "fuzz_user", "user_type_id": "fuzz_type"}, headers=h)
    t = client.post(
        "/api/workflow-templates",
        headers=h,
        json={
            "name": "fuzz_loan",
            "state_schema": {
                "amount": {"type": "number", "minimum": 1, "required": True},
                "iban": {"type": "string", "sensitive": True},
            },
        },
    ).json
    p = client.post(
        "/api/permissions", json={"user_type_id": "fuzz_type", "workflow_template_id": "fuzz_loan"}, headers=h
    ).json
    w = client.post(
        "/api/workflows", json={"template_id": "fuzz_loan", "conversation_id": "c1", "user_id": "fuzz_user"}, headers=h
    ).json
    KNOWN.update(
        user_type_id=["fuzz_type"],
        user_id=["fuzz_user"],
        ref=["fuzz_loan", t["id"]],
        permission_id=[str(p["id"])],
        workflow_id=[w["id"]],
        number=["1"],
    )
    return secret


TOKEN = _seed()
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
STATS: Counter = Counter()


def problem_json_for_4xx(ctx, response, case):
    """Every refused request answers application/problem+json with the RFC 9457 members."""
    if 400 <= response.status_code < 500:
        ctype = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/problem+json"), f"{response.status_code} answered as {ctype!r}"
        body = json.loads(response.content)
        assert body["status"] == response.status_code and body["title"] and body["detail"]
    return None


def _aim_at_known_rows(case) -> None:
    """Half of the cases (chosen from the case itself, so the run stays reproducible) name rows
    that exist, so that validation and state rules are reached, not only the 404."""
    params = case.path_parameters or {}
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
    for i, (name, _value) in enumerate(list(params.items())):
        if name in KNOWN and digest[i] % 2 == 0:
            params[name] = KNOWN[name][digest[i] % len(KNOWN[name])]


def _short_long_polls(case) -> None:
    """A feed long poll that finds nothing new answers when its wait is over: a valid wait is
    cut to 0.1 s (the answer is what is checked here; tests/test_events.py waits for real). An
    invalid one is kept, for its 422."""
    wait = (case.query or {}).get("wait")
    is_number = isinstance(wait, int | float) and not isinstance(wait, bool)
    if case.operation.path == "/events" and is_number and 0.1 < wait <= MAX_WAIT_S:
        case.query["wait"] = 0.1


@pytest.mark.filterwarnings(
    # hypothesis warns when a strategy that schemathesis builds from a schema is slow to draw
    # (NonInteractiveExampleWarning is not emitted here); nothing of ours to fix there.
    "ignore::hypothesis.errors.HypothesisDeprecationWarning",
)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_operation(case):
    _aim_at_known_rows(case)
    _short_long_polls(case)
    STATS["examples"] += 1
    STATS[f"op:{case.operation.method.upper()} {case.operation.path}"] += 1
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    STATS[f"status:{response.status_code}"] += 1
    try:
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance, problem_json_for_4xx],
        )
    except Exception:
        STATS["failures"] += 1
        raise


def test_every_operation_of_the_document_is_fuzzed():
    """The figures of the run (runs after the parametrized cases in this module)."""
    operations = {f"{o.ok().method.upper()} {o.ok().path}" for o in schema.get_all_operations()}
    fuzzed = {k[3:] for k in STATS if k.startswith("op:")}
    figures = {
        "operations": len(operations),
        "operations_fuzzed": len(fuzzed & operations),
        "examples": STATS["examples"],
        "failures": STATS["failures"],
        "statuses": {k[7:]: v for k, v in sorted(STATS.items()) if k.startswith("status:")},
    }
    print("\nfuzz figures:", json.dumps(figures))
    if os.environ.get("WFAPP_FUZZ_REPORT"):
        Path(os.environ["WFAPP_FUZZ_REPORT"]).write_text(json.dumps(figures, indent=2))
    if STATS["examples"]:  # the module was run as a whole
        assert fuzzed == operations, sorted(operations - fuzzed)
        assert STATS["failures"] == 0
