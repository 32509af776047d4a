"""How values travel in text inputs: scalars, numbers, HTTP headers and raw JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from wfapp.services.validation import hostile_text


def scalar_text(value: Any) -> str:
    """A JSON scalar as a text box shows it (empty for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def parse_number(text: str, integer: bool = False) -> int | float:
    """A number typed in a text box; ValueError when it is not a finite number."""
    text = text.strip()
    if integer:
        return int(text)
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return int(value) if re.fullmatch(r"-?\d+", text) else value


def headers_text(headers: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())


def parse_headers(text: str) -> dict[str, str]:
    """``Name: value`` lines; ValueError naming the line that is not one."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"write each header as Name: value (line {line.strip()!r})")
        out[name.strip()] = value.strip()
    return out


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"duplicate key {k!r}")
        out[k] = v
    return out


def no_hostile_text(value: Any) -> Any:
    """Parsed JSON without NUL characters or lone surrogates (ValueError naming the place)."""
    found = hostile_text(value)
    if found is not None:
        raise ValueError(f"{found[0]} {found[1].removeprefix('a key ')}: such characters are not accepted")
    return value


def parse_json_text(text: str) -> Any:
    """json.loads that refuses duplicate keys, NUL characters and lone surrogates; ValueError with
    a message that names the place."""
    try:
        return no_hostile_text(json.loads(text, object_pairs_hook=_no_duplicates))
    except _DuplicateKey as exc:
        raise ValueError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
