"""Logs: one line per request and per job attempt, JSON in production, plain in development.

A request line carries the request id (taken from ``X-Request-ID`` when it is a sane token,
generated otherwise, and always returned in the response's ``X-Request-ID``), the method, the
path, the URL rule, the status, the duration, the actor (API token or staff user), the workflow
id where there is one, the client address and the process id. Every other line logged while a
request is served carries its request id too.

What never reaches a log: request and response bodies (so no value of any state_data field,
``x-sensitive`` or not), query strings (the monitor's ``value=`` filter searches field values),
headers (``Authorization`` among them), SQL parameters (the engine runs with
``hide_parameters``). As a last guard every line is scrubbed of the values of the configured
secrets (``SECRET_KEY``, ``SIGNING_SECRET``, ``METRICS_TOKEN``, every ``WFAPP_SECRET_*``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context

ROOT_LOGGER = "wfapp"
request_log = logging.getLogger("wfapp.request")
job_log = logging.getLogger("wfapp.jobs")

REQUEST_ID_HEADER = "X-Request-ID"
# A request id from outside is used only when it cannot forge or break a log line.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_MIN_SECRET_LEN = 6
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def sane_request_id(value: str | None) -> str | None:
    return value if value and _SANE_REQUEST_ID.match(value) else None


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


class _Secrets:
    """The values that must never be printed: configured secrets and WFAPP_SECRET_* variables
    (read again on each line: they are read at send time and may change)."""

    def __init__(self, config_values: list[str]):
        self.config_values = [v for v in config_values if v and len(v) >= _MIN_SECRET_LEN]

    def values(self) -> list[str]:
        env = [v for k, v in os.environ.items() if k.startswith("WFAPP_SECRET_") and len(v) >= _MIN_SECRET_LEN]
        # longest first, so that a secret containing another is replaced whole
        return sorted(set(self.config_values + env), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self.values():
            if value in text:
                text = text.replace(value, "[secret]")
        return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Extra fields given as logger.info(msg, extra={...})."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: _Secrets):
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_fields(record))
        line.setdefault("pid", record.process)
        if record.exc_info:
            line["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return self.secrets.scrub(json.dumps(line, default=str, ensure_ascii=False))


# Already in the message of a request or job line.
_IN_PLAIN_MESSAGE = frozenset(
    {"event", "method", "path", "status", "duration_ms", "kind", "outcome", "attempt", "job_id"}
)


class PlainFormatter(logging.Formatter):
    """For a terminal: `12:00:01 INFO  wfapp.request GET /api/workflows 201 12ms  key=value ...`."""

    def __init__(self, secrets: _Secrets):
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extra = " ".join(
            f"{k}={v}" for k, v in _fields(record).items() if v not in (None, "") and k not in _IN_PLAIN_MESSAGE
        )
        text = f"{ts} {record.levelname:<5} {record.name} {record.getMessage()}" + (f"  {extra}" if extra else "")
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return self.secrets.scrub(text)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = current_request_id()
            if rid is not None:
                record.request_id = rid
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (gunicorn, systemd and test capture agree)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def init_app(app: Flask) -> None:
    fmt = (app.config.get("LOG_FORMAT") or ("plain" if app.debug else "json")).lower()
    secrets = _Secrets([str(app.config.get(k) or "") for k in ("SECRET_KEY", "SIGNING_SECRET", "METRICS_TOKEN")])
    handler = _StderrHandler()
    handler.setFormatter(PlainFormatter(secrets) if fmt == "plain" else JsonFormatter(secrets))
    handler.addFilter(_RequestIdFilter())
    handler._wfapp_ops = True  # type: ignore[attr-defined]

    from flask.logging import default_handler

    logger = logging.getLogger(ROOT_LOGGER)
    for old in list(logger.handlers):
        if getattr(old, "_wfapp_ops", False) or old is default_handler:
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(str(app.config.get("LOG_LEVEL") or "INFO").upper())
    # One line per event: our handler prints it, the root logger (if configured) does not again.
    logger.propagate = False


def log_request(
    *,
    method: str,
    path: str,
    rule: str | None,
    status: int,
    duration_s: float,
    actor: str | None,
    workflow_id: str | None,
    remote_addr: str | None,
) -> None:
    level = logging.ERROR if status >= 500 else logging.INFO
    request_log.log(
        level,
        f"{method} {path} {status} {duration_s * 1000:.1f}ms",
        extra={
            "event": "request",
            "request_id": current_request_id(),
            "method": method,
            "path": path,
            "rule": rule,
            "status": status,
            "duration_ms": round(duration_s * 1000, 2),
            "actor": actor,
            "workflow_id": workflow_id,
            "remote_addr": remote_addr,
        },
    )


@dataclass(frozen=True)
class JobAttempt:
    """One attempt to send a job of the outbox, as it is logged and counted on /metrics."""

    kind: str
    outcome: str
    duration_s: float | None  # None: nothing was timed (no outbound call)
    job_id: Any = None
    workflow_id: Any = None
    attempt: int | None = None
    status_code: int | None = None


def log_job_attempt(a: JobAttempt) -> None:
    level = logging.WARNING if a.outcome in ("dead", "retry", "failed") else logging.INFO
    duration_ms = round(a.duration_s * 1000, 2) if a.duration_s is not None else None
    job_log.log(
        level,
        f"job {a.job_id} {a.kind} attempt {a.attempt}: {a.outcome}"
        + (f" {duration_ms:.1f}ms" if duration_ms is not None else ""),
        extra={
            "event": "job_attempt",
            "job_id": a.job_id,
            "kind": a.kind,
            "attempt": a.attempt,
            "outcome": a.outcome,
            "status_code": a.status_code,
            "duration_ms": duration_ms,
            "actor": "outbox",
            "workflow_id": str(a.workflow_id) if a.workflow_id is not None else None,
        },
    )


# --- errors ---------------------------------------------------------------------------------


def database_error_in(exc: BaseException) -> BaseException | None:
    """The SQLAlchemy database error `exc` is, or was raised from (its cause or context), if any."""
    import sqlalchemy.exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, sqlalchemy.exc.DBAPIError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def log_error(logger: logging.Logger, exc: BaseException, what: str, *args: Any) -> None:
    """Log an unexpected error `exc` ("<what> failed ..."). A database error, or an error raised
    from one, is logged by the driver error's class and SQLSTATE alone, without traceback: the
    driver's message (DETAIL, CONTEXT), the statement and the traceback's messages may quote the
    values written, such as state_data, which must never reach a log."""
    db_error = database_error_in(exc)
    if db_error is None:
        logger.error(what, *args, exc_info=exc)
        return
    orig = getattr(db_error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "unknown"
    kind = type(orig if orig is not None else db_error)
    logger.error(
        what + ": database error %s.%s (SQLSTATE %s)",
        *args,
        kind.__module__,
        kind.__name__,
        sqlstate,
        extra={"error_class": f"{kind.__module__}.{kind.__name__}", "sqlstate": sqlstate},
    )
