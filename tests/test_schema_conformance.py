"""Conformance with the official JSON-Schema-Test-Suite (draft 2020-12).

For every case whose instance is an object and whose schema is acceptable as a state_schema
(an object whose root accepts objects, draft 2020-12), wfapp's verdict (compile when saved, then
validate_complete, as a start followed by completion decides) agrees with the suite's `valid`,
except for the deliberate differences in DIFFERENCES. Written one key per merge (as an LLM
writes them) the same cases reach the same verdict, and a merge refuses a key only when the final
verdict is invalid. The figures are printed (-s) and written to test-output/conformance.txt.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from wfapp.errors import SchemaError
from wfapp.schemas.state_schema import DRAFT_2020_12, build_compiled, compile_state_schema

SUITE = Path(__file__).parent / "jsonschema_suite"
OUT = Path(__file__).parent.parent / "test-output" / "conformance.txt"

# (file, group description, test description or "*" for every case of the group) -> reason.
_DEFAULT = "refused when saved: wfapp fills a default in when a workflow starts, so it must satisfy its field"
_RE2 = "refused when saved: patterns are RE2 (linear time), which names Unicode classes \\p{L}, not \\p{Letter}"
DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("default.json", "invalid type for default", "*"): _DEFAULT,
    ("default.json", "invalid string value for default", "*"): _DEFAULT,
    ("default.json", "the default keyword does not do anything if the property is missing", "*"): _DEFAULT,
    ("patternProperties.json", "patternProperties with Unicode property escape", "*"): _RE2,
}


def _acceptable(schema) -> str | None:
    """Why a suite schema is no state_schema (None when it is one)."""
    if not isinstance(schema, dict):
        return "boolean root (a state_schema is an object)"
    dialect = schema.get("$schema")
    if dialect is not None and dialect.rstrip("#") != DRAFT_2020_12:
        return "another $schema (only draft 2020-12)"
    types = schema.get("type")
    if types is not None and "object" not in (types if isinstance(types, list) else [types]):
        return "root does not accept objects"
    return None


def _remote(errors) -> bool:
    return all("points outside the schema" in e["message"] for e in errors)


def _cases():
    for path in sorted(SUITE.glob("*.json")):
        for group in json.loads(path.read_text()):
            for case in group["tests"]:
                if isinstance(case["data"], dict):
                    yield path.name, group, case


def _difference(name: str, group, case) -> str | None:
    return DIFFERENCES.get((name, group["description"], case["description"])) or DIFFERENCES.get(
        (name, group["description"], "*")
    )


def _verdicts():
    """Per case: (file, group, case, status) with status 'agree', 'differ', 'skipped: ...'."""
    compiled_cache: dict[tuple[str, str], object] = {}
    for name, group, case in _cases():
        why = _acceptable(group["schema"])
        if why:
            yield name, group, case, f"skipped: {why}", None
            continue
        key = (name, json.dumps(group["schema"], sort_keys=True))
        if key not in compiled_cache:
            try:
                compiled_cache[key] = build_compiled(compile_state_schema(group["schema"]))
            except SchemaError as exc:
                compiled_cache[key] = exc
        compiled = compiled_cache[key]
        if isinstance(compiled, SchemaError):
            if _remote(compiled.errors):
                yield name, group, case, "skipped: remote $ref (refused when saved)", None
            else:
                yield name, group, case, "refused", compiled.errors
            continue
        valid = not compiled.validate_complete(case["data"])
        yield name, group, case, ("agree" if valid == case["valid"] else "differ"), compiled


def test_verdicts_agree_with_the_suite():
    per_file: dict[str, Counter] = {}
    problems = []
    for name, group, case, status, extra in _verdicts():
        counts = per_file.setdefault(name, Counter())
        if status.startswith("skipped"):
            counts["skipped"] += 1
            continue
        counts["cases"] += 1
        reason = _difference(name, group, case)
        if status == "agree":
            counts["agree"] += 1
            if reason:
                problems.append(f"{name}: {group['description']} / {case['description']}: listed but agrees")
        elif reason:
            counts["deliberate"] += 1
        else:
            problems.append(
                f"{name}: {group['description']} / {case['description']}: {status} {extra if status == 'refused' else ''}"
            )
    lines = [f"{'file':34} cases agree deliberate skipped"]
    total: Counter = Counter()
    for name, c in sorted(per_file.items()):
        total.update(c)
        lines.append(f"{name:34} {c['cases']:5} {c['agree']:5} {c['deliberate']:10} {c['skipped']:7}")
    lines.append(f"{'total':34} {total['cases']:5} {total['agree']:5} {total['deliberate']:10} {total['skipped']:7}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    assert not problems, "\n".join(problems)


def test_one_key_per_merge_reaches_the_same_verdict():
    problems = []
    for name, group, case, status, compiled in _verdicts():
        if status not in ("agree", "differ"):
            continue
        expected = not compiled.validate_complete(case["data"])
        state: dict = {}
        for key, value in case["data"].items():
            state[key] = value
            if compiled.validate_merge(state, [key]) and expected:
                problems.append(f"{name}: {group['description']} / {case['description']}: merge of {key!r} refused")
        if (not compiled.validate_complete(state)) != expected:
            problems.append(f"{name}: {group['description']} / {case['description']}: final verdict differs")
    assert not problems, "\n".join(problems)
