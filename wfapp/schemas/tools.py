"""A template version's state_schema as a function-calling tool, in the shape each LLM client expects.

The tool's arguments are a patch of state_data, merged as a JSON Merge Patch (RFC 7396): a field
left out stays as it is, and null removes a field. Dialects:

- ``openai``: Chat Completions, ``{"type": "function", "function": {"name", "description", "parameters"}}``
- ``openai-strict``: the same with ``"strict": true`` and a schema OpenAI's strict mode accepts
- ``openai-responses``: the Responses API, ``{"type": "function", "name", "description", "parameters", "strict"}``
  (strict, as the Responses API defaults to)
- ``anthropic``: Messages API, ``{"name", "description", "input_schema"}``
- ``json-schema``: the arguments' schema alone (Draft 2020-12), named by ``title``

``$defs`` travel with the schema: every ``$ref`` is rewritten to ``#/$defs/NAME`` at the root of the
parameters, and only the definitions a ``$ref`` reaches are kept.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from wfapp.errors import ValidationFailed

if TYPE_CHECKING:
    from wfapp.schemas.state_schema import CompiledSchema

DIALECTS = ("openai", "openai-strict", "openai-responses", "anthropic", "json-schema")
DEFAULT_DIALECT = "openai"
STRICT_DIALECTS = ("openai-strict", "openai-responses")
# What null means in a tool call (POST /api/workflows/{id}/tool-calls does the same, see
# wfapp.services.conversation). Non-strict dialects send only what the user gave: a null is meant,
# and clears the field (JSON Merge Patch, as a PUT). Strict dialects must send every field: there
# a null is "not given" and the stored value stays; stored values are cleared by naming them in _clear.
NULL_MEANING = "null: clear this field (its stored value is removed)"
STRICT_NULL_MEANING = "null: not given (the stored value stays); to clear stored values, name their fields in _clear"
# Arguments that are no fields: what the user declined, a request for a human, fields to clear.
RESERVED = ("_declined", "_handoff", "_clear")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_NAME = 64
HASH_LENGTH = 8
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# OpenAI strict mode (Structured Outputs, "Supported schemas"): these keywords are kept; any other
# is said in words in the description and removed.
STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "anyOf",
        "$ref",
        "$defs",
        "title",
        "description",
        "pattern",
        "format",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "minItems",
        "maxItems",
    }
)
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
# Keywords of no use in a tool call (annotations the schema carries for wfapp or for authors).
DROPPED = frozenset({"$schema", "$id", "$comment", "default", "readOnly", "writeOnly", "deprecated"})
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
# Root keywords relating fields to each other: a patch carries a few fields, so they are said in words.
ROOT_KEPT = frozenset({"type", "properties", "additionalProperties", "$defs", "title", "description"})
# The query parameter that picks the dialect, as the API declares it.
TOOL_QUERY = [
    {
        "name": "dialect",
        "schema": {"type": "string", "enum": list(DIALECTS), "default": DEFAULT_DIALECT},
        "description": "the LLM client the tool is for",
    }
]


class UnknownDialect(ValidationFailed):
    pass


def check_dialect(dialect: str | None) -> str:
    """The dialect asked for (the default when none); UnknownDialect (422) names the known ones."""
    if dialect is None or dialect == "":
        return DEFAULT_DIALECT
    if dialect not in DIALECTS:
        known = ", ".join(DIALECTS)
        raise UnknownDialect(
            f"unknown dialect {dialect!r}; use one of {known}",
            [{"path": "/query/dialect", "message": f"must be one of {known}"}],
        )
    return dialect


def safe_name(name: str) -> str:
    """A tool name every client accepts (^[a-zA-Z0-9_-]{1,64}$): the name itself when it is one,
    else its valid characters, cut to fit a short hash of the whole name (stable, and distinct
    for names that share their first 64 characters)."""
    if TOOL_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    stem = re.sub(r"[^a-zA-Z0-9_-]+", "_", name).strip("_") or "tool"
    return f"{stem[: MAX_NAME - HASH_LENGTH - 1]}_{digest}"


def tool_name(template_name: str) -> str:
    """The tool's name for a workflow template: from the template's name alone, so it stays the
    same across versions."""
    return safe_name(f"update_{template_name}")


def null_meaning(dialect: str = DEFAULT_DIALECT) -> str:
    """What a null argument means in a tool of this dialect."""
    return STRICT_NULL_MEANING if dialect in STRICT_DIALECTS else NULL_MEANING


def tool_description(template_name: str, compiled: CompiledSchema, dialect: str = DEFAULT_DIALECT) -> str:
    required = [f.key for f in compiled.fields if f.required]
    if dialect in STRICT_DIALECTS:
        how = "Send every field: the value the user gave, or null; "
    else:
        how = "Send only the fields the user gave; a field left out stays as it is; "
    text = f"Record data collected for the {template_name} workflow. {how}{null_meaning(dialect)}."
    if required:
        text += f" Needed before the workflow can complete: {', '.join(required)}."
    text += (
        " _declined: optional fields the user does not want to give (they are not asked again);"
        " _handoff: a reason, when the user asks for a human or you cannot help."
        " The result says what was stored, what was refused and why, and what to ask next."
    )
    return text


def reserved_properties(compiled: CompiledSchema, *, strict: bool) -> dict[str, Any]:
    """The tool's arguments that are no fields (RESERVED), every one nullable."""
    optional = [f.key for f in compiled.fields if not f.required]
    names: dict[str, Any] = {"type": "string", "enum": optional} if optional else {"type": "string"}
    declined: dict[str, Any] = {
        "type": ["array", "null"],
        "items": names,
        "description": "optional fields the user declined to give",
    }
    if not optional:
        declined["maxItems"] = 0
    out: dict[str, Any] = {
        "_declined": declined,
        "_handoff": {
            "type": ["string", "null"],
            "description": "ask for a human operator to take over, with the reason",
        },
    }
    if strict:
        out["_clear"] = {
            "type": ["array", "null"],
            "items": {"type": "string", "enum": [f.key for f in compiled.fields]}
            if compiled.fields
            else {"type": "string"},
            "description": "fields whose stored value the user asked to remove",
        }
    return out


def template_tool(template_name: str, compiled: CompiledSchema, dialect: str | None = None) -> dict[str, Any]:
    """The tool of a template version, named and described from the template."""
    dialect = check_dialect(dialect)
    return tool_for(compiled, tool_name(template_name), tool_description(template_name, compiled, dialect), dialect)


def tool_for(compiled: CompiledSchema, name: str, description: str, dialect: str = DEFAULT_DIALECT) -> dict[str, Any]:
    """The function-calling tool that lets an LLM write collected data into state_data."""
    dialect = check_dialect(dialect)
    name = safe_name(name)
    strict = dialect in STRICT_DIALECTS
    parameters = patch_schema(compiled.schema, strict=strict)
    reserved = reserved_properties(compiled, strict=strict)
    parameters["properties"] = {**parameters["properties"], **reserved}
    if strict:
        parameters["required"] = [*parameters.get("required", []), *reserved]
    if dialect == "openai":
        return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
    if dialect == "openai-strict":
        return {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": parameters, "strict": True},
        }
    if dialect == "openai-responses":
        return {"type": "function", "name": name, "description": description, "parameters": parameters, "strict": True}
    if dialect == "anthropic":
        return {"name": name, "description": description, "input_schema": parameters}
    if parameters.get("description"):
        description = f"{description} {parameters.pop('description')}"
    return {"$schema": DRAFT_2020_12, "title": name, "description": description, **parameters}


# --- the schema of a patch ---------------------------------------------------------------------


def patch_schema(schema: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """The schema of the tool's arguments: the state schema's fields, every one optional and
    nullable (the merge removes a field sent as null), refs resolved into root ``$defs``."""
    root, defs = _collect_defs(schema)
    extra = {k: v for k, v in root.items() if k not in ROOT_KEPT and k != "required"}
    properties = root.get("properties") or {}
    out: dict[str, Any] = {
        "type": "object",
        "properties": {k: _nullable(_merge_path(v)) for k, v in properties.items()},
        "additionalProperties": False,
    }
    if extra:
        out["description"] = "Together the fields must also satisfy: " + _words(extra) + "."
    if defs:
        out["$defs"] = defs
    if strict:
        out = _strict(out, is_root=True)
    return out


def _merge_path(prop: Any) -> Any:
    """A merge patch recurses into objects: there, too, null removes an optional key."""
    if not isinstance(prop, dict) or not isinstance(prop.get("properties"), dict):
        return prop
    required = set(prop.get("required") or [])
    prop = dict(prop)
    prop["properties"] = {
        k: (_merge_path(v) if k in required else _nullable(_merge_path(v))) for k, v in prop["properties"].items()
    }
    return prop


def _nullable(prop: Any) -> Any:
    """The schema that also accepts null."""
    if prop is True or prop == {}:
        return prop
    if prop is False or not isinstance(prop, dict):
        return {"type": "null"}
    prop = dict(prop)
    if "$ref" in prop:
        ref = prop.pop("$ref")
        return {"anyOf": [{"$ref": ref}, {"type": "null"}], **prop}
    if "const" in prop and "enum" not in prop:
        prop["enum"] = [prop.pop("const")]
    if "enum" in prop and isinstance(prop["enum"], list) and None not in prop["enum"]:
        prop["enum"] = [*prop["enum"], None]
    kind = prop.get("type")
    if isinstance(kind, str):
        if kind != "null":
            prop["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            prop["type"] = [*kind, "null"]
    elif isinstance(prop.get("anyOf"), list) and not any(_accepts_null(s) for s in prop["anyOf"]):
        prop["anyOf"] = [*prop["anyOf"], {"type": "null"}]
    elif "enum" not in prop:
        annotations = {k: prop.pop(k) for k in ("title", "description") if k in prop}
        return {"anyOf": [prop, {"type": "null"}], **annotations}
    for keyword in ("oneOf", "allOf"):
        # a type list of its own does not let null through these: null is one more choice
        if keyword in prop:
            annotations = {k: prop.pop(k) for k in ("title", "description") if k in prop}
            return {"anyOf": [prop, {"type": "null"}], **annotations}
    return prop


def _accepts_null(schema: Any) -> bool:
    return isinstance(schema, dict) and (schema.get("type") == "null" or None in (schema.get("enum") or []))


# --- $defs and $refs -----------------------------------------------------------------------------


def _collect_defs(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema without annotations wfapp keeps for itself, with each local ``$ref`` rewritten
    to ``#/$defs/NAME`` and the definitions it reaches (transitively), by name."""
    defs: dict[str, Any] = {}
    names: dict[str, str] = {}  # pointer -> def name
    pending: list[tuple[str, str]] = []

    def name_for(pointer: str) -> str:
        if pointer not in names:
            parts = [_unescape(p) for p in pointer.split("/")[1:]]
            in_defs = len(parts) == 2 and parts[0] in ("$defs", "definitions")
            base = parts[1] if in_defs else "_".join(parts) or "root"
            base = re.sub(r"[^a-zA-Z0-9_.-]+", "_", base)
            candidate, n = base, 2
            while candidate in names.values():
                candidate, n = f"{base}_{n}", n + 1
            names[pointer] = candidate
            pending.append((pointer, candidate))
        return names[pointer]

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key.startswith("x-") or key in DROPPED or key in ("$defs", "definitions"):
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = f"#/$defs/{name_for(_pointer(value))}"
            elif key in ("enum", "const", "examples"):
                out[key] = copy.deepcopy(value)
            elif key in SUBSCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: rewrite(v) for k, v in value.items()}
            else:
                out[key] = rewrite(value)
        return out

    root = rewrite(schema)
    while pending:
        pointer, name = pending.pop(0)
        target = _resolve(schema, pointer)
        defs[name] = rewrite(target) if target is not None else {}
    return root, defs


def _pointer(ref: str) -> str:
    from urllib.parse import unquote

    return unquote(ref[1:])


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def resolve_ref(schema: Any, ref: str) -> Any:
    """What a local $ref ("#/...") points at in the schema, or None."""
    return _resolve(schema, _pointer(ref))


def _resolve(schema: Any, pointer: str) -> Any:
    node = schema
    for part in (_unescape(p) for p in pointer.split("/")[1:]):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


# --- OpenAI strict mode ----------------------------------------------------------------------------


def _strict(node: Any, *, is_root: bool = False) -> Any:
    """The schema in the subset OpenAI's strict mode accepts: every object closed, every property
    required (an optional one nullable), unsupported keywords said in words in the description."""
    if node is True or node == {}:
        # any value: strict mode has no such schema; the closest is any scalar
        return {"type": ["string", "number", "boolean", "null"]}
    if not isinstance(node, dict):
        return {"type": "null"}
    node = dict(node)
    words: list[str] = []
    if isinstance(node.get("allOf"), list):
        node = _fold_all_of(node, words)
    if "oneOf" in node:
        node["anyOf"] = [*(node.get("anyOf") or []), *node.pop("oneOf")]
        words.append("exactly one of the choices")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "format" in node and node["format"] not in STRICT_FORMATS:
        words.append(f"format {node.pop('format')}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in STRICT_KEYWORDS:
            out[key] = value
        else:
            words.append(_word(key, value))
    kind = out.get("type")
    if isinstance(out.get("properties"), dict) or kind == "object" or (isinstance(kind, list) and "object" in kind):
        required = set(out.get("required") or [])
        props = out.get("properties") or {}
        out["properties"] = {k: _strict(v if (k in required or is_root) else _nullable(v)) for k, v in props.items()}
        out["required"] = list(props)
        if out.get("additionalProperties") not in (None, False):
            words.append("more keys: " + _words({"additionalProperties": out["additionalProperties"]}))
        out["additionalProperties"] = False
    if "items" in out:
        out["items"] = _strict(out["items"])
    if "anyOf" in out:
        out["anyOf"] = [_strict(s) for s in out["anyOf"]]
    if "$defs" in out:
        out["$defs"] = {k: _strict(v) for k, v in out["$defs"].items()}
    if "$ref" in out and len(out) > 1:
        # a $ref stands alone in strict mode: its annotations go on a one-choice anyOf
        out = {"anyOf": [{"$ref": out.pop("$ref")}], **out}
    if words:
        said = "; ".join(w for w in words if w)
        out["description"] = f"{out['description']} ({said})" if out.get("description") else said[:1].upper() + said[1:]
    return out


def _fold_all_of(node: dict[str, Any], words: list[str]) -> dict[str, Any]:
    """allOf is not in strict mode: its parts' keywords join the schema itself (a keyword two parts
    set differently is said in words)."""
    node = dict(node)
    for part in node.pop("allOf"):
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key not in node:
                node[key] = value
            elif key == "properties" and isinstance(value, dict) and isinstance(node[key], dict):
                node[key] = {**value, **node[key]}
            elif key == "required" and isinstance(value, list) and isinstance(node[key], list):
                node[key] = [*node[key], *(k for k in value if k not in node[key])]
            elif node[key] != value:
                words.append(_word(key, value))
    return node


def _word(keyword: str, value: Any) -> str:
    """An unsupported keyword, said in words."""
    if keyword in ("minLength", "maxLength"):
        return f"{'at least' if keyword == 'minLength' else 'at most'} {value} character{'' if value == 1 else 's'}"
    if keyword == "uniqueItems":
        return "no item twice" if value else ""
    if keyword == "examples" and isinstance(value, list):
        return "for example " + ", ".join(json.dumps(v, ensure_ascii=False) for v in value)
    return _words({keyword: value})


def _words(keywords: dict[str, Any]) -> str:
    return ", ".join(f"{k} {json.dumps(v, ensure_ascii=False, sort_keys=True)}" for k, v in keywords.items())


__all__ = [
    "DEFAULT_DIALECT",
    "DIALECTS",
    "NULL_MEANING",
    "RESERVED",
    "STRICT_DIALECTS",
    "STRICT_NULL_MEANING",
    "TOOL_QUERY",
    "UnknownDialect",
    "check_dialect",
    "null_meaning",
    "patch_schema",
    "reserved_properties",
    "safe_name",
    "template_tool",
    "tool_description",
    "tool_for",
    "tool_name",
]
