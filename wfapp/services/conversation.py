"""The conversation around a workflow, as the chat LLM drives it: tool calls applied field by
field (the valid fields stored, the invalid ones refused and named), refused writes remembered
per field, fields the user declined, escalation after repeated refusals, and the feedback the
LLM reads after each call.

Nulls in a tool call. In the non-strict dialects (openai, anthropic, json-schema) the LLM sends
only the fields the user gave, so a null is meant: it clears the field (JSON Merge Patch, as a PUT).
In the strict dialects (openai-strict, openai-responses) the schema makes the LLM send every field,
so a null there means "not given": the stored value stays; to clear stored values the LLM names
the fields in `_clear`. wfapp.schemas.tools says the same in each tool's description."""

import json
import uuid
from typing import Any

import sqlalchemy.orm as so

from wfapp.errors import InvalidTransition, StateValidationError, ValidationFailed
from wfapp.models import TemplateVersion, Workflow
from wfapp.models.types import utcnow
from wfapp.schemas import field_guide
from wfapp.schemas.state_schema import ESCALATE_AFTER, CompiledSchema, compiled_for_version
from wfapp.schemas.tools import DIALECTS, RESERVED, STRICT_DIALECTS
from wfapp.services import lifecycle
from wfapp.services.analytics import record_validation_failure
from wfapp.services.events import record_event
from wfapp.services.handoff import request_handoff
from wfapp.services.llm_context import Conversation, guidance, required_now
from wfapp.services.outbox import OutboxSettings
from wfapp.services.workflow_lookup import lock_with_definition
from wfapp.services.workflow_status import touch

MAX_REMEMBERED_VALUE = 2000  # characters of JSON: a longer refused value is not kept
MAX_REASON = 2000


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _now() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


# --- refused writes ---------------------------------------------------------------------------------


def record_refusal(
    session: so.Session,
    wf: Workflow,
    compiled: CompiledSchema,
    errors: list[dict[str, Any]],
    patch: dict[str, Any] | None,
    actor: str,
    remote_addr: str = "",
) -> list[str]:
    """Count a refused write (template analytics) and remember, per field, its last refusal:
    message, how many times, the value sent (never for a sensitive field), when. Returns the
    refused fields."""
    record_validation_failure(session, wf, errors, actor, remote_addr)
    messages: dict[str, str] = {}
    for e in errors:
        parts = e["path"].split("/")
        key = e.get("field") or (_unescape(parts[2]) if len(parts) > 2 and parts[1] == "state_data" else None)
        if key and key not in messages:
            where = "/".join(parts[3:])
            messages[key] = f"{where.lstrip('/')}: {e['message']}" if where else e["message"]
    sensitive = {f.key for f in compiled.fields if f.sensitive}
    refusals = dict(wf.refusals or {})
    now = _now()
    for key, message in messages.items():
        entry: dict[str, Any] = {
            "message": message,
            "count": int((refusals.get(key) or {}).get("count", 0)) + 1,
            "at": now,
        }
        sent = (patch or {}).get(key, None)
        remember = key not in sensitive and patch is not None and key in patch
        if remember and len(json.dumps(sent, ensure_ascii=False)) <= MAX_REMEMBERED_VALUE:
            entry["value"] = sent
        refusals[key] = entry
    wf.refusals = refusals  # a new object: SQLAlchemy does not see in-place changes
    return list(messages)


def refuse_put(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    errors: list[dict[str, Any]],
    patch: dict[str, Any] | None,
    actor: str,
    remote_addr: str = "",
) -> None:
    """A PUT whose merge was refused (and rolled back): count it, remember it, escalate."""
    wf, version, _template = lock_with_definition(session, workflow_id)
    compiled = compiled_for_version(version)
    fields = record_refusal(session, wf, compiled, errors, patch, actor, remote_addr)
    if not wf.is_terminal:
        escalate(session, wf, version, compiled, fields, actor)


# --- declined fields ---------------------------------------------------------------------------------


def decline(
    session: so.Session,
    wf: Workflow,
    compiled: CompiledSchema,
    key: str,
    reason: str,
    source: str,
    actor: str,
) -> bool:
    """Record that the user declined an optional field (it is no longer asked for). Unknown and
    required fields are refused (ValidationFailed). Returns whether it was new."""
    if wf.is_terminal:
        raise InvalidTransition(f"the workflow is {wf.status}: its fields can no longer change")
    known = {f.key: f for f in compiled.fields}
    if key not in known:
        raise ValidationFailed(f"no field {key!r}", [{"path": "/field", "message": f"no field {key!r}"}])
    required = required_now(compiled, wf.state_data or {})
    if key in required:
        why = f" {required[key]}" if required[key] else ""
        raise ValidationFailed(
            f"{key} is required{why}: it cannot be declined",
            [{"path": "/field", "message": f"is required{why}: it cannot be declined"}],
        )
    if key in (wf.declined or {}):
        return False
    reason = (reason or "").strip()[:MAX_REASON]
    wf.declined = {**(wf.declined or {}), key: {"reason": reason, "source": source, "at": _now()}}
    touch(wf)
    record_event(session, wf, "field_declined", actor, {"field": key, "reason": reason, "source": source})
    return True


def decline_field(session: so.Session, workflow_id: str | uuid.UUID, key: str, reason: str, actor: str) -> Workflow:
    """POST /api/workflows/{id}/declined."""
    wf, version, _template = lock_with_definition(session, workflow_id)
    decline(session, wf, compiled_for_version(version), key, reason, "api", actor)
    return wf


# --- escalation ---------------------------------------------------------------------------------------


def escalation_limit(version: TemplateVersion, compiled: CompiledSchema, key: str) -> int | None:
    prop = next((f.schema for f in compiled.fields if f.key == key), {})
    own = prop.get(ESCALATE_AFTER)
    if isinstance(own, int) and not isinstance(own, bool) and own >= 1:
        return own
    after = (version.escalation or {}).get("after")
    return after if isinstance(after, int) and after >= 1 else None


def escalate(
    session: so.Session,
    wf: Workflow,
    version: TemplateVersion,
    compiled: CompiledSchema,
    fields: list[str],
    actor: str,
) -> list[dict[str, Any]]:
    """After N refused writes of a field (its own escalate_after, else the template's
    escalation.after): "skip" records an optional field as declined ("skipped after N
    refusals"); "handoff", or a required field that cannot be skipped, hands the conversation
    to an operator. Returns what was done, per field."""
    done = []
    action = (version.escalation or {}).get("action", "skip")
    titles = {f.key: f.title for f in compiled.fields}
    for key in fields:
        limit = escalation_limit(version, compiled, key)
        count = int(((wf.refusals or {}).get(key) or {}).get("count", 0))
        if limit is None or count < limit:
            continue
        required = key in required_now(compiled, wf.state_data or {})
        if action == "skip" and not required:
            if decline(session, wf, compiled, key, f"skipped after {count} refusals", "validation", actor):
                done.append({"field": key, "action": "skipped", "after": count})
        else:
            reason = f"{titles.get(key, key)} was refused {count} times: {(wf.refusals or {})[key]['message']}"
            if request_handoff(session, wf, reason, "validation", actor):
                done.append({"field": key, "action": "handoff", "after": count})
    return done


# --- tool calls ---------------------------------------------------------------------------------------


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as the SDKs hand them over: a JSON string (OpenAI) or an object
    (Anthropic's input, or already parsed)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError as exc:
            raise ValidationFailed(
                f"the arguments are not valid JSON: {exc}", [{"path": "/arguments", "message": "is not valid JSON"}]
            ) from None
    if not isinstance(arguments, dict):
        raise ValidationFailed(
            "the arguments must be a JSON object of fields", [{"path": "/arguments", "message": "must be an object"}]
        )
    return arguments


def is_strict(dialect: str | None, args: dict[str, Any], compiled: CompiledSchema) -> bool:
    """The dialect when given; else a call that sends every field and every reserved argument
    is taken for a strict one (a strict schema makes the LLM send them all)."""
    if dialect:
        return dialect in STRICT_DIALECTS
    return all(f.key in args for f in compiled.fields) and all(r in args for r in RESERVED)


def _without_nulls(value: Any) -> Any:
    """A strict call's value with its nulls ("not given") left out, at every depth."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _list_of_names(args: dict[str, Any], name: str) -> list[str]:
    value = args.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(
            f"{name} must be a list of field names",
            [{"path": f"/arguments/{name}", "message": "must be a list of field names"}],
        )
    return list(dict.fromkeys(value))


def apply_tool_call(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    arguments: Any,
    actor: str,
    *,
    dialect: str | None = None,
    settings: OutboxSettings,
) -> dict[str, Any]:
    """Apply an LLM tool call: the valid fields are merged as a PUT merges them (same service,
    events and validation), each invalid one is refused with its message and a hint, `_declined`
    fields are declined, `_handoff` asks for a human. Returns the feedback for the LLM."""
    if dialect is not None and dialect not in DIALECTS:
        raise ValidationFailed(f"unknown dialect {dialect!r}", [{"path": "/dialect", "message": "unknown dialect"}])
    args = parse_arguments(arguments)
    wf, version, template = lock_with_definition(session, workflow_id)
    if wf.is_terminal:
        raise InvalidTransition(
            f"the workflow is {wf.status}: its state_data can no longer change", current_status=str(wf.status)
        )
    compiled = compiled_for_version(version)
    strict = is_strict(dialect, args, compiled)
    declined = _list_of_names(args, "_declined")
    clear = _list_of_names(args, "_clear")
    handoff = args.get("_handoff")
    if handoff is not None and not isinstance(handoff, str):
        raise ValidationFailed(
            "_handoff must be a reason in words", [{"path": "/arguments/_handoff", "message": "must be a string"}]
        )
    guides = field_guide.guides(compiled)
    known = {f.key for f in compiled.fields}
    refused: list[dict[str, Any]] = []
    patch: dict[str, Any] = {}
    for key, value in args.items():
        if key in RESERVED:
            continue
        if key not in known:
            refused.append(
                _refused(key, "is not a field of this workflow", "Fields: " + ", ".join(sorted(known)) + ".")
            )
            continue
        if strict:
            if value is None:
                continue  # not given: the stored value stays
            value = _without_nulls(value)
        patch[key] = value
    for key in clear:
        if key in known:
            patch[key] = None
        else:
            refused.append(_refused(key, "is not a field of this workflow: it cannot be cleared", ""))

    state = wf.state_data or {}
    failed: dict[str, list[dict[str, Any]]] = {}
    valid = dict(patch)
    for _ in range(len(patch) + 1):
        errors = compiled.validate_merge(lifecycle.merge_patch(state, valid), valid.keys())
        if not errors:
            break
        for e in errors:
            keys = [e["field"]] if e.get("field") in valid else list(valid)  # a whole-object rule: all of them
            for key in keys:
                failed.setdefault(key, []).append({**e, "field": key})
        valid = {k: v for k, v in valid.items() if k not in failed}
    stored: dict[str, Any] = {}
    if valid:
        try:
            lifecycle.merge_locked(session, wf, version, valid, actor, source="tool_call", settings=settings)
        except StateValidationError as exc:  # the check above is the same: only on a concurrent schema oddity
            for e in exc.errors:
                failed.setdefault(e.get("field") or next(iter(valid)), []).append(e)
            valid = {}
        stored = {k: (wf.state_data or {}).get(k) for k in valid}
    escalations: list[dict[str, Any]] = []
    if failed:
        errors = [e for key in failed for e in failed[key]]
        record_refusal(session, wf, compiled, errors, patch, actor)
        for key, errs in failed.items():
            refused.append(
                _refused(
                    key, (wf.refusals or {}).get(key, {}).get("message") or errs[0]["message"], guides[key]["hint"]
                )
            )
        escalations = escalate(session, wf, version, compiled, list(failed), actor)
    for key in declined:
        try:
            decline(session, wf, compiled, key, "", "llm", actor)
        except ValidationFailed as exc:
            refused.append(
                _refused(key, exc.errors[0]["message"] if exc.errors else str(exc), "Ask the user for it instead.")
            )
    if handoff is not None and handoff.strip():
        request_handoff(session, wf, handoff, "llm", actor)
    if not valid and not failed and not declined and not handoff:
        touch(wf)
    return feedback(wf, version, compiled, stored, refused, escalations)


def _refused(key: str, message: str, hint: str) -> dict[str, Any]:
    return {"field": key, "message": message, "hint": hint}


def feedback(
    wf: Workflow,
    version: TemplateVersion,
    compiled: CompiledSchema,
    stored: dict[str, Any],
    refused: list[dict[str, Any]],
    escalations: list[dict[str, Any]],
) -> dict[str, Any]:
    """The answer to a tool call, written for the LLM (the chat backend passes it on as the tool result)."""
    g = guidance(compiled, wf.state_data or {}, Conversation.of(wf, version.ask_optional is not False))
    sensitive = {f.key for f in compiled.fields if f.sensitive}
    titles = {f.key: f.title for f in compiled.fields}
    words = []
    if stored:
        words.append("Stored " + ", ".join(titles.get(k, k) for k in stored) + ".")
    elif not refused:
        words.append("Nothing new was stored.")
    for r in refused:
        words.append(
            f"Refused {titles.get(r['field'], r['field'])}: {r['message']}. {r['hint']} Ask the user again.".replace(
                ". .", "."
            ).replace("  ", " ")
        )
    for e in escalations:
        if e["action"] == "skipped":
            words.append(
                f"{titles.get(e['field'], e['field'])} is skipped after {e['after']} refused answers: do not ask for it again."
            )
    if g["handoff"]:
        words.append(
            f"A human operator takes over ({g['handoff']['reason']}): tell the user that a person will continue "
            "the conversation, and ask nothing more until it is handed back."
        )
    elif g["can_complete"]:
        words.append("Everything needed is collected: the workflow can be completed.")
    elif g["next"] and g["next"]["field"] in {r["field"] for r in refused}:
        words.append(f"Next: ask again for {g['next']['title']}.")
    elif g["next"]:
        words.append(f"Next: {g['next']['question_hint']}")
    elif g["missing_required"]:
        words.append("Still needed: " + ", ".join(g["missing_required"]) + ".")
    if not g["can_complete"] and not g["handoff"]:
        other = [b["message"] for b in g["blocking_reasons"] if b["reason"] in ("dependency", "suspended", "status")]
        if other:
            words.append("It cannot complete yet: " + "; ".join(other) + ".")
    return {
        "workflow_id": str(wf.id),
        "stored": {k: ("••••" if k in sensitive else v) for k, v in stored.items()},
        "refused": refused,
        "escalations": escalations,
        "next": g["next"],
        "can_complete": g["can_complete"],
        "blocking_reasons": g["blocking_reasons"],
        "missing_required": g["missing_required"],
        "handoff": g["handoff"],
        "text": " ".join(words),
    }
