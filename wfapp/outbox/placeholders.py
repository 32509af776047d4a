"""Placeholders are data, never structure: the rules for what a template may put into an
outbound request (a dependency's call, an end action) and how values are rendered into it.

- ``{{state.field}}`` / ``{{workflow.id|user_id|conversation_id}}`` may appear in an endpoint's
  path and query only. In the scheme, the user info, the host or the port, any ``{{...}}`` is
  refused when the template is saved (and left unrendered in a version saved before that rule,
  so such a call fails as an invalid URL instead of going where a value says).
- In the path a value is percent-encoded as (part of) one path segment, in the query as one
  key or value: ``/ ? & = # %`` and spaces in a value cannot change where the call goes. A path
  segment that decodes to ``.`` or ``..`` is refused when sent (servers resolve those).
- Header names must be plain tokens; ``Host``, ``Content-Length``, ``Transfer-Encoding`` and
  ``Connection`` (any case) would make a request ambiguous and are refused when saved, as is
  CR, LF or NUL anywhere in a configured header. A header value that holds a control character
  once rendered (a placeholder's value, a secret) is refused when sent: no request goes out.
  A placeholder's value never turns into a ``${secret:NAME}`` reference.
"""

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

PLACEHOLDER = re.compile(r"\{\{\s*((?:state|workflow)(?:\.[A-Za-z0-9_\-]+)+)\s*\}\}")
ANY_PLACEHOLDER = re.compile(r"\{\{|\}\}")
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name
AMBIGUOUS_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but HTAB
LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")

Lookup = Callable[[str], tuple[bool, Any]]


def as_text(found: bool, value: Any) -> str:
    """A placeholder's value inside a string: text as is, other values as JSON, nothing as ''."""
    if not found or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def render_header_value(template: str, lookup: Lookup) -> str:
    """A header value with its placeholders filled as text. A value never becomes a secret
    reference: its ``${`` is sent as ``$%7B`` (secrets are resolved only where the template says)."""
    return PLACEHOLDER.sub(lambda m: as_text(*lookup(m.group(1))).replace("${", "$%7B"), template)


def _authority_end(url: str) -> int:
    """Where the scheme and authority (user info, host, port) of `url` end."""
    m = re.match(r"^[^:/?#]*:(//[^/?#]*)?", url)
    return m.end() if m else 0


def render_url(template: str, lookup: Lookup) -> str:
    """The endpoint with its placeholders filled: each value percent-encoded as one path segment
    (or part of one) or one query key/value. The scheme and authority are never rendered."""
    if "{{" not in template:
        return template
    cut = _authority_end(template)
    head, rest = template[:cut], template[cut:]
    if "{{" in head:
        return template  # refused on save; an older version's call fails as an invalid URL
    _s, _n, path, query, fragment = urlsplit("http://h" + rest)

    def encoded(m: re.Match) -> str:
        return quote(as_text(*lookup(m.group(1))), safe="")

    path = PLACEHOLDER.sub(encoded, path)
    query = PLACEHOLDER.sub(encoded, query)
    return head + urlunsplit(("", "", path, query, fragment))


def url_problem(url: str) -> str:
    """Why `url` must not be sent, or ''."""
    path = urlsplit(url).path
    if any(unquote(seg) in (".", "..") for seg in path.split("/")):
        return "the endpoint's path has a '.' or '..' segment (a placeholder's value?): not sent"
    return ""


def header_problem(headers: dict[str, str]) -> str:
    """Why these rendered headers must not be sent, or '' (the value is never quoted: it may be a secret)."""
    for name, value in headers.items():
        if not TOKEN.match(str(name)):
            return f"the header name {str(name)[:100]!r} is not a valid header name: not sent"
        if CONTROL.search(str(value)):
            return f"the header {name} holds a control character (CR, LF, ...) once rendered: not sent"
    return ""


def endpoint_errors(endpoint: str) -> list[str]:
    """Problems of a configured endpoint (checked when a template is saved)."""
    if ANY_PLACEHOLDER.search(endpoint[: _authority_end(endpoint)]):
        return ["a placeholder may not be in the scheme, user info, host or port; only in the path and the query"]
    return []


def headers_errors(headers: dict[str, Any]) -> list[tuple[str, str]]:
    """(header name, problem) of configured headers (checked when a template is saved)."""
    out = []
    for name, value in (headers or {}).items():
        if LINE_BREAK_OR_NUL.search(name) or LINE_BREAK_OR_NUL.search(str(value)):
            out.append((name, "CR, LF and NUL are not allowed in a header name or value"))
        elif not TOKEN.match(name):
            out.append((name, "is not a valid header name (letters, digits and !#$%&'*+.^_`|~- only)"))
        elif name.lower() in AMBIGUOUS_HEADERS:
            out.append((name, f"{name} is set by wfapp itself; configuring it would make the request ambiguous"))
    return out


def request_errors(call: dict[str, Any], path: str, who: str) -> list[dict[str, str]]:
    """Save-time problems of an outbound call ({endpoint, headers, ...}) at JSON pointer `path`."""
    errors = [
        {"path": f"{path}/endpoint", "message": f"{who}: {msg}"} for msg in endpoint_errors(str(call.get("endpoint")))
    ]
    for name, msg in headers_errors(call.get("headers") or {}):
        pointer = name.replace("~", "~0").replace("/", "~1")
        errors.append({"path": f"{path}/headers/{pointer}", "message": f"{who}: header {name!r}: {msg}"})
    return errors
