"""What the chat backend's LLM needs next: the context of a workflow (guidelines, collected
data, missing fields with a re-ask hint each, what blocks completion) and the function-calling
tool that writes its state."""

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.orm as so

from wfapp.models import Workflow, WorkflowStatus
from wfapp.schemas import field_guide
from wfapp.schemas.state_schema import CompiledSchema, compiled_for_version
from wfapp.schemas.tools import template_tool
from wfapp.services import dependencies, timers
from wfapp.services.handoff import handoff_of
from wfapp.services.workflow_lookup import version_of
from wfapp.services.workflow_queries import workflow_row


def llm_tool(template_name: str, compiled: CompiledSchema) -> dict[str, Any]:
    """The function-calling tool the chat backend gives its LLM to write state_data."""
    return template_tool(template_name, compiled)


@dataclass
class Conversation:
    """What a workflow keeps about its conversation besides state_data."""

    status: str = "active"
    declined: dict[str, Any] = field(default_factory=dict)
    refusals: dict[str, Any] = field(default_factory=dict)
    ask_optional: bool = True
    handoff: dict[str, Any] | None = None
    pending: list[str] = field(default_factory=list)
    suspended: dict[str, Any] | None = None

    @classmethod
    def of(cls, wf: Workflow, ask_optional: bool = True) -> "Conversation":
        suspended_at = getattr(wf, "suspended_at", None)
        return cls(
            status=str(wf.status),
            declined=dict(wf.declined or {}),
            refusals=dict(wf.refusals or {}),
            ask_optional=ask_optional,
            handoff=handoff_of(wf),
            pending=dependencies.pending(wf),
            suspended={"since": suspended_at.isoformat().replace("+00:00", "Z")} if suspended_at else None,
        )


# --- which fields are required now --------------------------------------------------------------


def required_now(compiled: CompiledSchema, state: dict[str, Any]) -> dict[str, str | None]:
    """The fields completion requires with this state: field -> the condition that makes it
    required (None: always). Conditions come from the whole-object keywords (dependentRequired,
    if/then, dependentSchemas): the compiled schema's `outstanding(state)` when it has one."""
    out: dict[str, str | None] = {key: None for key in compiled.required}
    outstanding = getattr(compiled, "outstanding", None)
    if callable(outstanding):
        try:
            items = list(outstanding(state))
        except Exception:  # noqa: BLE001 - a look-up for words; the merge validates for real
            items = []
        for item in items:
            key, condition = _outstanding_item(item)
            if key and key not in out:
                out[key] = condition or "required by the other answers"
        return out
    for key, condition in _conditional(compiled, state).items():
        out.setdefault(key, condition)
    return out


def _outstanding_item(item: dict[str, str]) -> tuple[str | None, str | None]:
    """A field and its condition from one of CompiledSchema.outstanding's items
    ({"path": "/state_data/vat", "message": "is required when kind is 'company'", ...});
    requirements that name no field (minProperties, oneOf) give (None, None)."""
    path = item.get("path") or ""
    if item.get("keyword") not in ("required", "dependentRequired") or not path.startswith("/state_data/"):
        return None, None
    key = path.removeprefix("/state_data/").split("/", 1)[0].replace("~1", "/").replace("~0", "~")
    message = item.get("message") or ""
    return key, (message.removeprefix("is required ").strip() or None) if message != "is required" else None


def _conditional(compiled: CompiledSchema, state: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        errors = list(compiled.validator.iter_errors(state))
    except Exception:  # noqa: BLE001 - unresolvable schemas are refused at save; words only
        return out
    for err in errors:
        if err.absolute_path:
            continue
        if err.validator == "dependentRequired" and isinstance(err.validator_value, dict):
            for given, needed in err.validator_value.items():
                if given in state:
                    for key in needed:
                        if key not in state:
                            out.setdefault(key, f"because {given} is given")
        elif err.validator == "required" and list(err.schema_path) != ["required"]:
            condition = _condition(compiled.schema, list(err.schema_path))
            for key in err.validator_value:
                if key not in state:
                    out.setdefault(key, condition)
    return out


def _condition(schema: dict[str, Any], path: list[Any]) -> str:
    for i in range(len(path) - 1, -1, -1):
        if path[i] in ("then", "else"):
            parent: Any = schema
            for part in path[:i]:
                parent = parent[part] if isinstance(parent, (dict, list)) else None
            words = _if_words((parent or {}).get("if"))
            return ("when " if path[i] == "then" else "unless ") + words
        if path[i] == "dependentSchemas" and i + 1 < len(path):
            return f"because {path[i + 1]} is given"
    return "required by the other answers"


def _if_words(schema: Any) -> str:
    props = (schema or {}).get("properties") if isinstance(schema, dict) else None
    parts = []
    for key, sub in (props or {}).items():
        if isinstance(sub, dict) and "const" in sub:
            parts.append(f"{key} is {field_guide._show(sub['const'])}")
        elif isinstance(sub, dict) and isinstance(sub.get("enum"), list):
            parts.append(f"{key} is one of {', '.join(field_guide._show(v) for v in sub['enum'])}")
    return " and ".join(parts) or "the other answers make it necessary"


# --- what to ask next, and what blocks completion -----------------------------------------------


def guidance(compiled: CompiledSchema, state: dict[str, Any], conv: Conversation) -> dict[str, Any]:
    """missing_fields (with type, hint, example, choices, last_refusal), missing_required,
    next_field and next, declined, handoff, can_complete and blocking_reasons."""
    guides = field_guide.guides(compiled)
    required = required_now(compiled, state)
    missing = [f for f in compiled.missing(state) if f.key not in conv.declined]
    entries = []
    for f in missing:
        guide = guides[f.key]
        entry: dict[str, Any] = {
            "name": f.key,
            "title": f.title,
            "description": f.description,
            "required": f.key in required,
            "type": guide["type"],
            "schema": {k: v for k, v in f.schema.items() if not k.startswith("x-")},
            "hint": guide["hint"],
            "example": guide["example"],
        }
        if guide["choices"] is not None:
            entry["choices"] = guide["choices"]
        if required.get(f.key):
            entry["required_when"] = required[f.key]
        refusal = conv.refusals.get(f.key)
        if refusal:
            entry["last_refusal"] = refusal
            entry["hint"] = f"The last answer was refused ({refusal['message']}). {guide['hint']}"
        entries.append(entry)
    askable = [e for e in entries if e["required"] or conv.ask_optional]
    nxt = askable[0] if askable else None
    missing_required = [e["name"] for e in entries if e["required"]]
    blocking = blocking_reasons(compiled, state, conv, missing_required)
    return {
        "missing_fields": entries,
        "missing_required": missing_required,
        "next_field": nxt["name"] if nxt else None,
        "next": {"field": nxt["name"], "title": nxt["title"], "question_hint": _question(nxt)} if nxt else None,
        "declined": [{"field": k, **v} for k, v in conv.declined.items()],
        "ask_optional": conv.ask_optional,
        "handoff": conv.handoff,
        "can_complete": not blocking,
        "blocking_reasons": blocking,
    }


def _question(entry: dict[str, Any]) -> str:
    text = f"Ask for {entry['title']}"
    if entry.get("description"):
        text += f" ({entry['description']})"
    return f"{text}. {entry['hint']}"


def blocking_reasons(
    compiled: CompiledSchema, state: dict[str, Any], conv: Conversation, missing_required: list[str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if conv.status != WorkflowStatus.ACTIVE and not (conv.status == WorkflowStatus.WAITING and conv.pending):
        out.append({"reason": "status", "message": f"the workflow is {conv.status}"})
    if missing_required:
        out.append(
            {"reason": "missing", "fields": missing_required, "message": "still needed: " + ", ".join(missing_required)}
        )
    errors = compiled.validate_complete(state)
    invalid = sorted({e["field"] or "" for e in errors if e["message"] != "is required"})
    if invalid:
        out.append(
            {
                "reason": "invalid",
                "fields": [k for k in invalid if k],
                "message": "; ".join(
                    f"{e['path'].removeprefix('/state_data/') or '/'}: {e['message']}"
                    for e in errors
                    if e["message"] != "is required"
                ),
            }
        )
    elif errors and not missing_required:
        out.append(
            {"reason": "missing", "fields": [e["field"] for e in errors if e["field"]], "message": "still needed"}
        )
    if conv.pending:
        out.append({"reason": "dependency", "names": conv.pending, "message": "waiting on " + ", ".join(conv.pending)})
    if conv.handoff:
        out.append({"reason": "handoff", "message": f"a human operator has the conversation: {conv.handoff['reason']}"})
    if conv.suspended:
        out.append({"reason": "suspended", "message": "the workflow is suspended"})
    return out


def build_context(
    template_name: str,
    version_number: int | None,
    description: str,
    guidelines: str,
    compiled: CompiledSchema,
    state: dict[str, Any],
    *,
    status: str = "active",
    workflow_id: str | None = None,
    waiting_for: dict[str, Any] | None = None,
    conversation: Conversation | None = None,
) -> dict[str, Any]:
    """What the chat LLM needs next: guidelines, collected data, missing fields in question order
    with their schemas and hints, what blocks completion, and a function-calling tool."""
    conv = conversation or Conversation(status=status)
    return {
        "workflow_id": workflow_id,
        "template": template_name,
        "version": version_number,
        "status": status,
        "description": description,
        "guidelines": guidelines,
        "collected": {f.key: state[f.key] for f in compiled.fields if f.key in state},
        **guidance(compiled, state, conv),
        "waiting_for": waiting_for,
        "tool": llm_tool(template_name, compiled),
    }


def context_for(session: so.Session, wf: Workflow) -> dict[str, Any]:
    """The context of a stored workflow (GET /api/workflows/{id}/context)."""
    row = workflow_row(session, wf)
    version = version_of(session, wf)
    context = build_context(
        row.template_name,
        row.version_number,
        version.description,
        version.guidelines,
        compiled_for_version(version),
        wf.state_data or {},
        status=str(wf.status),
        workflow_id=str(wf.id),
        waiting_for=wf.waiting_for,
        conversation=Conversation.of(wf, version.ask_optional is not False),
    )
    context.update(timers.context_extra(wf, version))  # next_timer, suspended
    return context
