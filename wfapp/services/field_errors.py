"""The services' error lists ``[{"path", "message"}]`` grouped by the field they name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def errors_by_field(errors: Iterable[dict[str, Any]], prefix: str = "/state_data/") -> dict[str, list[str]]:
    """Service errors [{"path": "/state_data/amount", "message"}] -> {"amount": [messages]};
    errors that name no field are collected under ""."""
    out: dict[str, list[str]] = {}
    for err in errors:
        path = err.get("path", "")
        key = ""
        if path.startswith(prefix):
            key = path[len(prefix) :].split("/", 1)[0].replace("~1", "/").replace("~0", "~")
        out.setdefault(key, []).append(err["message"])
    return out
