"""Design-time warnings of a workflow template definition: what the editor can tell before saving
that will fail later. Warnings, not errors: a definition with warnings can still be saved.

- a ``${secret:NAME}`` in a dependency's or the end action's headers that is not configured
  (no ``WFAPP_SECRET_NAME``); only names are compared, values are never read here;
- an endpoint the outbound policy refuses: a literal non-public IP address or ``localhost`` that
  ``WFAPP_OUTBOUND_ALLOW`` does not admit (outbox.http's policy; no DNS lookups);
- a dependency whose ``when.fields`` or ``{{state.x}}`` reads a field the state_schema does not
  declare;
- a saved template that no user type is granted (nobody can start it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import SchemaError, ValidationFailed
from wfapp.models import Permission
from wfapp.outbox.http import Allowlist, refusal, secret_names
from wfapp.outbox.placeholders import PLACEHOLDER
from wfapp.schemas.state_schema import build_compiled, compile_state_schema

SECRET_ENV_PREFIX = "WFAPP_SECRET_"
Warning_ = dict[str, str]


def configured_secret_names(*sources: Iterable[str]) -> set[str]:
    """The secret names that keys such as ``WFAPP_SECRET_NAME`` configure (environment, config)."""
    return {k[len(SECRET_ENV_PREFIX) :] for keys in sources for k in keys if k.startswith(SECRET_ENV_PREFIX)}


def is_granted(session: so.Session, template_id: Any) -> bool:
    """True when at least one user type may start workflows of this template."""
    q = sa.select(Permission.id).where(Permission.workflow_template_id == template_id).limit(1)
    return session.execute(q).first() is not None


def _declared_fields(definition: dict[str, Any]) -> set[str] | None:
    """The top-level fields of the state_schema, or None when it does not compile (the editor
    reports that as an error already)."""
    try:
        compiled = build_compiled(compile_state_schema(definition.get("state_schema")))
    except (SchemaError, ValidationFailed, TypeError, ValueError):
        return None
    return {f.key for f in compiled.fields}


def _state_refs(value: Any) -> list[str]:
    """The top-level state fields the {{state.x}} placeholders in a value read, in order."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in _state_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _state_refs(v)]
    if isinstance(value, str):
        return [m.group(1).split(".")[1] for m in PLACEHOLDER.finditer(value) if m.group(1).startswith("state.")]
    return []


def _endpoint_refusal(endpoint: Any, allowlist: Allowlist) -> str:
    """Why the outbound policy refuses this endpoint, judged on its literal host only."""
    if not isinstance(endpoint, str):
        return ""
    try:
        host = (urlsplit(endpoint).hostname or "").rstrip(".")
    except ValueError:
        return ""
    if not host:
        return ""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address("127.0.0.1")
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return ""  # a name: only the lookup at call time tells
    return refusal(host, ip, allowlist)


def _headers(api: Any) -> dict[str, str]:
    headers = api.get("headers") if isinstance(api, dict) else None
    return {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}


def _call_warnings(api: Any, path: str, what: str, configured: set[str], allowlist: Allowlist) -> list[Warning_]:
    out: list[Warning_] = []
    if not isinstance(api, dict):
        return out
    for name in secret_names(_headers(api)):
        if name not in configured:
            out.append(
                {
                    "path": f"{path}/headers",
                    "message": f"{what} uses the secret {name}, which is not configured "
                    f"(set {SECRET_ENV_PREFIX}{name}): its calls will fail",
                }
            )
    why = _endpoint_refusal(api.get("endpoint"), allowlist)
    if why:
        out.append({"path": f"{path}/endpoint", "message": f"{what}: the outbound policy will refuse it ({why})"})
    return out


def design_warnings(
    definition: dict[str, Any],
    *,
    configured_secrets: Iterable[str],
    outbound_allow: str | list[str] | None,
    granted: bool | None,
) -> list[Warning_]:
    """Every warning of the definition, each ``{"path", "message"}`` (a JSON pointer into the
    definition, "" for the template as a whole). ``granted`` is None for a template not saved yet."""
    configured = set(configured_secrets)
    allowlist = Allowlist.parse(outbound_allow)
    declared = _declared_fields(definition)
    deps = definition.get("workflow_dependencies")
    deps = deps if isinstance(deps, list) else []
    answers = {d["store_as"] for d in deps if isinstance(d, dict) and isinstance(d.get("store_as"), str)}
    out: list[Warning_] = []
    for i, dep in enumerate(deps):
        if not isinstance(dep, dict):
            continue
        label = f"Dependency {dep.get('name') or i + 1}"
        path = f"/workflow_dependencies/{i}"
        api = dep.get("api") if dep.get("type", "api") == "api" else None
        out += _call_warnings(api, f"{path}/api", label, configured, allowlist)
        if declared is None:
            continue
        when = dep.get("when")
        reads = (
            [(f"{path}/when/fields", f) for f in (when.get("fields") or []) if isinstance(f, str)]
            if isinstance(when, dict)
            else []
        )
        if isinstance(api, dict):
            reads += [
                (f"{path}/api", f) for f in _state_refs([api.get("endpoint"), api.get("headers"), api.get("body")])
            ]
        seen: set[str] = set()
        for where, field in reads:
            if field in declared or field in answers or field in seen:
                continue
            seen.add(field)
            out.append(
                {"path": where, "message": f"{label} reads the field {field}, which the state schema does not declare"}
            )
    if definition.get("end_action_type") == "api_call":
        out += _call_warnings(
            definition.get("end_action_target"), "/end_action_target", "The end action", configured, allowlist
        )
    if granted is False:
        out.append(
            {
                "path": "",
                "message": "No user type is granted this template: nobody can start it (grant it on the permissions page)",
            }
        )
    return out
