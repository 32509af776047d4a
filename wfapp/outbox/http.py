"""Outbound HTTP: the one place that calls the outside world (end actions, dependency calls).

Every request wfapp sends carries these headers:

- ``Content-Type: application/json`` and the body as compact JSON (keys sorted), byte for byte
  the same on every attempt of a job.
- ``Idempotency-Key``: the job's key, the same on every attempt; a receiver that remembers the
  keys it has processed sees exactly one effect despite at-least-once delivery.
- ``X-Wfapp-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with ``WFAPP_SIGNING_SECRET``.
  Verify it over the bytes received, before parsing, with a constant-time comparison.
- ``X-Wfapp-Attempt``: the attempt number (1, 2, ...), ``X-Wfapp-Job``: the job id,
  ``X-Wfapp-Workflow``: the workflow id.
- ``X-Wfapp-Callback`` (dependency calls, when ``WFAPP_PUBLIC_URL`` is set): where an endpoint that
  answered 202 posts the outcome.

Safety (DESIGN.md, "End actions and the outbox"):

- Connections go through requests-hardened's IP-filtering adapter: the host name is resolved once,
  the resolved address is checked, and the connection is pinned to that very address (no second
  DNS lookup that could answer differently). Non-global addresses (private, loopback, link-local
  such as 169.254.169.254, carrier-grade NAT, multicast, reserved) are refused unless the
  allowlist ``WFAPP_OUTBOUND_ALLOW`` admits them: entries are host names (matched exactly against
  the URL's host) or IP addresses / CIDRs (matched against the address actually connected to).
- Redirects are never followed (a 3xx answer is a failure), so no redirect can lead elsewhere
  and no header (secrets included) is ever replayed to another host.
- Proxies from the environment are ignored (a proxy would connect on our behalf, unchecked).
- Connect and read timeouts on every call, a total deadline while reading, and at most
  ``OUTBOUND_MAX_RESPONSE_BYTES`` of the answer is read.
- Header values ``${secret:NAME}`` are replaced at send time by the environment variable
  ``WFAPP_SECRET_NAME``; the value is never stored, logged or recorded in an event, and is
  masked if the receiver echoes it back.
"""

import hashlib
import hmac
import ipaddress
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

SECRET_REF = re.compile(r"\$\{secret:([A-Za-z0-9_]+)\}")
EXCERPT_CHARS = 500
USER_AGENT = "wfapp-outbox/1"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(requests.RequestException):
    """The call was refused before any connection was made (allowlist, SSRF rules)."""


class MissingSecret(Exception):
    """A header references a secret that is not configured."""


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | list[str] | None) -> "Allowlist":
        items = text if isinstance(text, list) else re.split(r"[\s,]+", text or "")
        hosts, networks = set(), []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(ip.version == net.version and ip in net for net in self.networks)


def _describe(ip) -> str:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives here)"
    if ip.is_multicast:
        return "a multicast address"
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    return "a non-global address"


class AllowlistAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, check, pin the connection to the checked
    address), with exceptions for the allowlist. Its own loopback switch is all-or-nothing, so
    loopback stays refused there and the allowlist decides on the address it refused."""

    def __init__(self, is_https_proto: bool, allowlist: Allowlist):
        super().__init__(is_https_proto=is_https_proto, allow_loopback=False)
        self._allowlist = allowlist

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host = urlsplit(request.url).hostname or ""
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        except InvalidIPAddress as exc:
            ip = ipaddress.ip_address(str(exc.args[0]))
            if not self._allowlist.admits(host, ip):
                raise OutboundRefused(
                    f"refused: {host} resolves to {ip}, {_describe(ip)}, which WFAPP_OUTBOUND_ALLOW does not admit"
                ) from None
            # Admitted: the same pinning as requests-hardened, on the address it checked.
            host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
            if self._is_https_proto:
                pool_kwargs["assert_hostname"] = host
                pool_kwargs["server_hostname"] = host
            host_params["host"] = str(ip) if ip.version == 4 else f"[{ip}]"
            return host_params, pool_kwargs
        # Belt and braces: whatever the library let through must be a global address.
        ip = ipaddress.ip_address(host_params["host"].strip("[]"))
        if not ip.is_global and not self._allowlist.admits(host, ip):
            raise OutboundRefused(
                f"refused: {host} resolves to {ip}, {_describe(ip)}, which WFAPP_OUTBOUND_ALLOW does not admit"
            )
        return host_params, pool_kwargs


def make_session(allow: str | list[str] | None, connect_timeout: float, read_timeout: float) -> requests.Session:
    allowlist = Allowlist.parse(allow)
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(connect_timeout, read_timeout),
            user_agent_override=USER_AGENT,
        )
    )
    session.trust_env = False  # no proxies from the environment: they would connect unchecked
    session.mount("http://", AllowlistAdapter(False, allowlist))
    session.mount("https://", AllowlistAdapter(True, allowlist))
    return session


def session_from_config(config) -> requests.Session:
    return make_session(
        config.get("OUTBOUND_ALLOW"),
        float(config["OUTBOUND_CONNECT_TIMEOUT_S"]),
        float(config["OUTBOUND_READ_TIMEOUT_S"]),
    )


# --- building the request -------------------------------------------------------------------


def canonical_body(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_signature(secret: str, raw: bytes, header: str) -> bool:
    """What a receiver does (shown here for the README and the tests)."""
    return hmac.compare_digest(sign(secret, raw), header or "")


def secret_names(headers: dict[str, str] | None) -> list[str]:
    return sorted({m for v in (headers or {}).values() for m in SECRET_REF.findall(str(v))})


def resolve_secrets(headers: dict[str, str] | None, environ=os.environ) -> tuple[dict[str, str], list[str]]:
    """Header values with ${secret:NAME} replaced from WFAPP_SECRET_NAME; also the values used
    (so that they can be masked wherever text from the call is recorded)."""
    used: list[str] = []

    def repl(m: re.Match) -> str:
        value = environ.get(f"WFAPP_SECRET_{m.group(1)}")
        if value is None:
            raise MissingSecret(
                f"the secret {m.group(1)} is not configured (set the environment variable WFAPP_SECRET_{m.group(1)})"
            )
        used.append(value)
        return value

    return {k: SECRET_REF.sub(repl, str(v)) for k, v in (headers or {}).items()}, used


def mask(text: str, secrets_used: list[str]) -> str:
    for value in secrets_used:
        if value:
            text = text.replace(value, "[secret]")
    return text


# --- sending ----------------------------------------------------------------------------------


@dataclass
class CallResult:
    ok: bool  # a 2xx answer
    retryable: bool  # worth another attempt (timeouts, connection errors, 408/429/5xx)
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str = ""
    json: Any = None
    retry_after_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status_code": self.status_code, "duration_ms": self.duration_ms}
        if self.excerpt:
            out["excerpt"] = self.excerpt
        if self.error:
            out["error"] = self.error
        return out


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    raw: bytes | None,
    timeout: tuple[float, float],
    max_bytes: int,
    secrets_used: list[str] = (),
) -> CallResult:
    """One call; never raises for what the network or the receiver does."""
    started = time.monotonic()
    deadline = started + timeout[0] + timeout[1]

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with session.request(
            method, url, data=raw, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        ) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_content(8192):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes or time.monotonic() > deadline:
                    break
            content = b"".join(chunks)[:max_bytes]
            status = resp.status_code
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            location = resp.headers.get("Location", "")
    except OutboundRefused as exc:
        return CallResult(ok=False, retryable=False, duration_ms=elapsed_ms(), error=str(exc))
    except requests.Timeout:
        return CallResult(
            ok=False,
            retryable=True,
            duration_ms=elapsed_ms(),
            error=f"timed out (connect {timeout[0]}s, read {timeout[1]}s)",
        )
    except requests.exceptions.InvalidURL as exc:
        return CallResult(ok=False, retryable=False, duration_ms=elapsed_ms(), error=f"invalid URL: {exc}")
    except requests.RequestException as exc:
        return CallResult(
            ok=False,
            retryable=True,
            duration_ms=elapsed_ms(),
            error=mask(f"{type(exc).__name__}: {exc}", list(secrets_used))[:EXCERPT_CHARS],
        )
    text = content.decode("utf-8", errors="replace")
    result = CallResult(
        ok=200 <= status < 300,
        retryable=status in (408, 425, 429) or status >= 500,
        status_code=status,
        duration_ms=elapsed_ms(),
        excerpt=mask(text, list(secrets_used))[:EXCERPT_CHARS],
        retry_after_s=retry_after,
    )
    if 300 <= status < 400:
        result.error = (
            f"answered {status} (redirect{' to ' + location[:200] if location else ''}): redirects are not followed"
        )
    elif not result.ok:
        result.error = f"answered {status}"
    if result.ok and content:
        try:
            result.json = json.loads(content)
        except ValueError:
            result.json = None
    return result
