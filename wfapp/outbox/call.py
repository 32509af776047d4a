"""Making the outbound call of one claimed job (an end action or a dependency call), with no
database transaction open and no lock held. The same Idempotency-Key goes out on every attempt;
the body is signed with SIGNING_SECRET."""

from collections.abc import Mapping
from typing import Any

import requests

from wfapp.models import JobKind
from wfapp.outbox import http as outbound
from wfapp.outbox.claim import Claimed
from wfapp.outbox.jobs import lease_for
from wfapp.services.outbox import OutboxSettings, callback_url


def call(config: Mapping[str, Any], http: requests.Session, c: Claimed) -> tuple[outbound.CallResult, dict[str, Any]]:
    """Send the job's request; returns the result and a summary of the request (header names,
    secret names, never their values) for the attempt's event."""
    target = c.payload.get("target") or {}
    method = (target.get("method") or "POST").upper()
    url = target["endpoint"]
    body = c.payload.get("body") if c.kind == JobKind.END_ACTION else target.get("body")
    raw = outbound.canonical_body(body) if body is not None and method != "GET" else None
    request_summary = {
        "method": method,
        "endpoint": url,
        "headers": sorted((target.get("headers") or {}).keys()),
        "secrets": outbound.secret_names(target.get("headers")),
    }
    try:
        headers, used = outbound.resolve_secrets(target.get("headers"))
    except outbound.MissingSecret as exc:
        return outbound.CallResult(ok=False, retryable=False, error=str(exc)), request_summary
    headers.update(
        {
            "Content-Type": "application/json",
            "Idempotency-Key": c.idempotency_key,
            "X-Wfapp-Signature": outbound.sign(config["SIGNING_SECRET"], raw or b""),
            "X-Wfapp-Attempt": str(c.attempts),
            "X-Wfapp-Job": str(c.id),
            "X-Wfapp-Workflow": str(c.workflow_id),
        }
    )
    if c.callback_credential:
        # this attempt's own callback address: its credential is single-use and only this
        # attempt's counts
        headers["X-Wfapp-Callback"] = callback_url(OutboxSettings.from_config(config), c.callback_credential)
    read = float(target.get("timeout_s") or config["OUTBOUND_READ_TIMEOUT_S"])
    connect = min(float(config["OUTBOUND_CONNECT_TIMEOUT_S"]), read)
    result = outbound.send(
        http,
        method,
        url,
        headers=headers,
        raw=raw,
        timeout=(connect, read),
        max_bytes=int(config["OUTBOUND_MAX_RESPONSE_BYTES"]),
        secrets_used=used,
        lease_s=lease_for(
            c.payload, OutboxSettings.from_config(config)
        ),  # claimed just now: the call never outlives the lease
    )
    return result, request_summary
