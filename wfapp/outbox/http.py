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
- ``X-Wfapp-Callback`` (dependency calls): this attempt's own single-use address,
  ``{WFAPP_PUBLIC_URL}/api/callbacks/<credential>``, where an endpoint that answered 202 posts
  the outcome (only the credential's hash is stored).

Safety (docs/architecture.md, "End actions and the outbox"):

- Connections go through requests-hardened's IP-filtering adapter: the host name is resolved once,
  the resolved address is checked, and the connection is pinned to that very address (no second
  DNS lookup that could answer differently). Non-global addresses (private, loopback, link-local
  such as 169.254.169.254, carrier-grade NAT, multicast, reserved) are refused unless the
  allowlist ``WFAPP_OUTBOUND_ALLOW`` admits them: entries are host names (matched exactly against
  the URL's host) or IP addresses / CIDRs (matched against the address actually connected to).
- Redirects are never followed (a 3xx answer is a failure), so no redirect can lead elsewhere
  and no header (secrets included) is ever replayed to another host.
- Proxies from the environment are ignored (a proxy would connect on our behalf, unchecked).
- Every call ends by its deadline: the timeout (``timeout_s``, else
  ``WFAPP_OUTBOUND_READ_TIMEOUT_S``) bounds the whole call, a receiver that drips its answer
  included (at the deadline the socket is shut down), and never runs past the job's lease;
  at most ``OUTBOUND_MAX_RESPONSE_BYTES`` of the answer is read.
- Every IPv6 spelling of an IPv4 address (mapped, translated, compatible, 6to4, Teredo, NAT64)
  is judged like that IPv4 address (``refusal``).
- The URL and the headers are checked before sending (wfapp.outbox.placeholders): a dot
  segment in the path or a control character in a header is refused, nothing goes out.
- Header values ``${secret:NAME}`` are replaced at send time by the environment variable
  ``WFAPP_SECRET_NAME``; the value is never stored, logged or recorded in an event, and is
  masked if the receiver echoes it back.
"""

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from wfapp.outbox.placeholders import header_problem, url_problem

SECRET_REF = re.compile(r"\$\{secret:([A-Za-z0-9_]+)\}")
EXCERPT_CHARS = 500
USER_AGENT = "wfapp-outbox/1"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LEASE_MARGIN_S = 2.0  # a call ends this long (at most a fifth of the lease) before its job's lease


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


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address spells, and how: IPv4-mapped, IPv4-translated,
    IPv4-compatible, 6to4, Teredo (its client), NAT64 (the last 32 bits)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _IPV4_TRANSLATED:
        return low32, "IPv4-translated"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: nor ::1
        return low32, "IPv4-compatible"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    if any(ip in net for net in _NAT64):
        return low32, "NAT64"
    return None


def _public(ip: IPAddress) -> bool:
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in EXTRA_BLOCKED_NET_RANGES)


def refusal(host: str, ip: IPAddress, allowlist: Allowlist) -> str:
    """The address policy: why a call to `host`, connected to `ip`, is refused, or '' when it
    may go. Every IPv6 spelling of an IPv4 address is judged like that IPv4 address."""
    if allowlist.admits(host, ip):
        return ""
    embedded = embedded_ipv4(ip)
    why = ""
    if embedded is not None:
        v4, kind = embedded
        if allowlist.admits(host, v4):
            return ""
        if not _public(v4):
            why = f"{ip}, the {kind} spelling of {v4}, {_describe(v4)}"
    if not why and not _public(ip):
        why = f"{ip}, {_describe(ip)}"
    return f"refused: {host} resolves to {why}, which WFAPP_OUTBOUND_ALLOW does not admit" if why else ""


class _Watch:
    """Ends a call at its deadline: the socket of the connection in use is shut down, which
    wakes any read blocked on it (a receiver that drips its answer one byte at a time included)."""

    def __init__(self) -> None:
        self.sock: Any = None
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


_calls = threading.local()  # the _Watch of the call this thread is making


def _watch(sock) -> None:
    watch = getattr(_calls, "watch", None)
    if watch is not None and sock is not None:
        watch.sock = sock
        if watch.fired:
            watch.fire()


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        _watch(conn.sock)  # a kept-alive connection is connected already
        return conn


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        _watch(conn.sock)
        return conn


class AllowlistAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, check, pin the connection to the checked
    address), with exceptions for the allowlist. Its own loopback switch is all-or-nothing, so
    loopback stays refused there and `refusal` decides on the address it refused, and again on
    whatever it let through."""

    def __init__(self, is_https_proto: bool, allowlist: Allowlist):
        super().__init__(is_https_proto=is_https_proto, allow_loopback=False)
        self._allowlist = allowlist

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host = urlsplit(request.url).hostname or ""
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        except InvalidIPAddress as exc:
            ip = ipaddress.ip_address(str(exc.args[0]))
            reason = refusal(host, ip, self._allowlist)
            if reason:
                raise OutboundRefused(reason) from None
            # Admitted: the same pinning as requests-hardened, on the address it checked.
            host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
            if self._is_https_proto:
                pool_kwargs["assert_hostname"] = host
                pool_kwargs["server_hostname"] = host
            host_params["host"] = str(ip) if ip.version == 4 else f"[{ip}]"
            return host_params, pool_kwargs
        # Belt and braces: whatever the library let through must pass the policy too.
        reason = refusal(host, ipaddress.ip_address(host_params["host"].strip("[]")), self._allowlist)
        if reason:
            raise OutboundRefused(reason)
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


def call_budget_s(total_s: float, lease_s: float | None) -> float:
    """How long a call may take: its timeout, and never past its job's lease (less a margin)."""
    if lease_s is None:
        return total_s
    return min(total_s, lease_s - min(LEASE_MARGIN_S, lease_s / 5))


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    raw: bytes | None,
    timeout: tuple[float, float],
    max_bytes: int,
    secrets_used: Sequence[str] = (),
    lease_s: float | None = None,
) -> CallResult:
    """One call; never raises for what the network or the receiver does.

    `timeout` is (connect, total): connecting may take `connect` seconds, the whole call
    (connecting, sending, waiting for the answer, reading all of it) `total` seconds at most,
    however slowly the receiver answers. `lease_s`, the seconds left on the job's lease, caps
    the whole call too (call_budget_s)."""
    started = time.monotonic()
    budget = call_budget_s(timeout[1], lease_s)

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    problem = url_problem(url) or header_problem(headers)
    if problem:
        return CallResult(ok=False, retryable=False, error=problem)
    if budget <= 0:
        return CallResult(ok=False, retryable=True, error="not sent: the job's lease ends before a call could finish")
    timed_out = f"timed out after {budget:g}s (connect {min(timeout[0], budget):g}s, whole call {budget:g}s)"
    watch = _Watch()
    timer = threading.Timer(budget, watch.fire)
    timer.daemon = True
    _calls.watch = watch
    timer.start()
    try:
        with session.request(
            method,
            url,
            data=raw,
            headers=headers,
            timeout=(min(timeout[0], budget), budget),
            stream=True,
            allow_redirects=False,
        ) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_content(8192):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes or watch.fired:
                    break
            if watch.fired:
                raise requests.Timeout(timed_out)
            content = b"".join(chunks)[:max_bytes]
            status = resp.status_code
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            location = resp.headers.get("Location", "")
    except OutboundRefused as exc:
        return CallResult(ok=False, retryable=False, duration_ms=elapsed_ms(), error=str(exc))
    except requests.exceptions.InvalidURL as exc:
        return CallResult(ok=False, retryable=False, duration_ms=elapsed_ms(), error=f"invalid URL: {exc}")
    except requests.RequestException as exc:
        if watch.fired or isinstance(exc, requests.Timeout):
            return CallResult(ok=False, retryable=True, duration_ms=elapsed_ms(), error=timed_out)
        return CallResult(
            ok=False,
            retryable=True,
            duration_ms=elapsed_ms(),
            error=mask(f"{type(exc).__name__}: {exc}", list(secrets_used))[:EXCERPT_CHARS],
        )
    finally:
        timer.cancel()
        _calls.watch = None
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
