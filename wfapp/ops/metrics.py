"""Prometheus metrics at /metrics (the official prometheus_client).

Counted in the process that sees them (summed over gunicorn workers by the client's
multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set, as gunicorn.conf.py does):
- ``wfapp_http_requests_total{method, endpoint, status}`` and
  ``wfapp_http_request_duration_seconds{method, endpoint}``: ``endpoint`` is the URL rule
  (``/api/workflows/<workflow_id>``), so the number of series stays bounded;
- ``wfapp_job_attempts_total{kind, outcome}`` and ``wfapp_job_attempt_duration_seconds{kind}``:
  end actions and dependency calls sent by the dispatcher (reported by the outbox through
  ``observe_job_attempt``);
- ``wfapp_dispatcher_heartbeat_timestamp_seconds``: when a dispatcher last looked for jobs.

Read from the database when scraped (one number whichever worker answers, reused for
METRICS_DB_TTL_S seconds):
- ``wfapp_workflows{template, status}``, ``wfapp_jobs{status}`` (pending, running, dead),
- ``wfapp_dispatcher_lag_seconds``: age of the oldest due pending job (0 when none is due),
- ``wfapp_database_up``: 1 when those queries answered.

/metrics answers a request that presents ``Authorization: Bearer <METRICS_TOKEN>`` or comes from
an address in METRICS_ALLOW (default: loopback only). A request that went through a proxy (it has
X-Forwarded-For) is judged by its address only when ProxyFix is configured to trust that header.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from wfapp.ops.logging import JobAttempt

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "wfapp_http_requests_total", "HTTP requests answered, per URL rule and status", ["method", "endpoint", "status"]
)
HTTP_SECONDS = Histogram(
    "wfapp_http_request_duration_seconds",
    "Time to answer an HTTP request, per URL rule",
    ["method", "endpoint"],
    buckets=HTTP_BUCKETS,
)
JOB_ATTEMPTS = Counter(
    "wfapp_job_attempts_total",
    "Attempts to send an outbox job (end action or dependency call), per outcome",
    ["kind", "outcome"],
)
JOB_SECONDS = Histogram(
    "wfapp_job_attempt_duration_seconds", "Duration of one attempt to send an outbox job", ["kind"], buckets=JOB_BUCKETS
)
DISPATCHER_HEARTBEAT = Gauge(
    "wfapp_dispatcher_heartbeat_timestamp_seconds",
    "Unix time when a dispatcher in this machine last looked for due jobs",
    multiprocess_mode="max",
)

bp = Blueprint("ops_metrics", __name__)
_JOB_STATUSES = ("pending", "running", "dead")


def is_multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# --- what the rest of the app calls ---------------------------------------------------------


def observe_request(method: str, endpoint: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, endpoint, str(status)).inc()
    HTTP_SECONDS.labels(method, endpoint).observe(seconds)


def observe_job_attempt(attempt: JobAttempt) -> None:
    """Called by the outbox after each attempt to send a job: counts it, times it, logs one line.
    Never raises (an observer must not break the dispatcher)."""
    from wfapp.ops.logging import log_job_attempt

    attempt = replace(attempt, kind=str(getattr(attempt.kind, "value", attempt.kind)))
    try:
        JOB_ATTEMPTS.labels(attempt.kind, attempt.outcome).inc()
        if attempt.duration_s is not None:  # None: nothing was timed (no outbound call)
            JOB_SECONDS.labels(attempt.kind).observe(max(0.0, float(attempt.duration_s)))
        log_job_attempt(attempt)
    except Exception:  # pragma: no cover - defensive
        pass


def note_dispatcher_heartbeat() -> None:
    DISPATCHER_HEARTBEAT.set(time.time())


# --- numbers read from the database at scrape time ------------------------------------------


class DatabaseCollector:
    """Workflows per template and status, jobs per status, dispatcher lag: counted by the
    database, so they are right however many processes there are."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s

    _cache: dict[str, Any] = {}
    _lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        from wfapp.extensions import db
        from wfapp.models import Job, JobStatus, Workflow, WorkflowTemplate
        from wfapp.models.types import utcnow

        key = str(db.engine.url)
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit["at"] < self.ttl_s:
                return hit["data"]
        data: dict[str, Any] = {"up": 0, "workflows": [], "jobs": {}, "lag": None}
        try:
            with db.engine.connect() as conn:
                now = utcnow()
                data["workflows"] = [
                    (name, str(getattr(status, "value", status)), n)
                    for name, status, n in conn.execute(
                        sa.select(WorkflowTemplate.name, Workflow.status, sa.func.count())
                        .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
                        .group_by(WorkflowTemplate.name, Workflow.status)
                    )
                ]
                data["jobs"] = {
                    str(getattr(s, "value", s)): n
                    for s, n in conn.execute(
                        sa.select(Job.status, sa.func.count())
                        .where(Job.status.in_(list(_JOB_STATUSES)))
                        .group_by(Job.status)
                    )
                }
                oldest = conn.execute(
                    sa.select(sa.func.min(Job.next_attempt_at)).where(
                        Job.status == JobStatus.PENDING, Job.next_attempt_at <= now
                    )
                ).scalar()
                data["lag"] = max(0.0, (now - _aware(oldest)).total_seconds()) if oldest else 0.0
                conn.rollback()
            data["up"] = 1
        except sa.exc.SQLAlchemyError as exc:
            current_app.logger.getChild("ops").warning("metrics: the database did not answer: %s", exc)
        with self._lock:
            self._cache[key] = {"at": time.monotonic(), "data": data}
        return data

    def collect(self) -> Iterable[Any]:
        data = self.read()
        up = GaugeMetricFamily("wfapp_database_up", "1 when the database answered the metrics queries")
        up.add_metric([], data["up"])
        yield up
        if not data["up"]:
            return
        wf = GaugeMetricFamily(
            "wfapp_workflows", "Workflows per workflow template and status", labels=["template", "status"]
        )
        for name, status, n in data["workflows"]:
            wf.add_metric([name, status], n)
        yield wf
        jobs = GaugeMetricFamily("wfapp_jobs", "Outbox jobs per status (dead jobs are incidents)", labels=["status"])
        for status in _JOB_STATUSES:
            jobs.add_metric([status], data["jobs"].get(status, 0))
        yield jobs
        lag = GaugeMetricFamily(
            "wfapp_dispatcher_lag_seconds", "Age of the oldest due pending job (0 when none is due)"
        )
        lag.add_metric([], data["lag"] or 0.0)
        yield lag


def _aware(ts):

    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class _Forward:
    """Hands the default registry's metrics to a per-scrape registry."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def render_metrics(ttl_s: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if is_multiprocess():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector(ttl_s))
    return generate_latest(registry)


# --- access ------------------------------------------------------------------------------------


def _networks(text: str | list[str]) -> list:
    items = text if isinstance(text, list) else str(text or "").replace(",", " ").split()
    nets = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            continue
    return nets


def may_read_metrics() -> bool:
    cfg = current_app.config
    token = str(cfg.get("METRICS_TOKEN") or "")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if "X-Forwarded-For" in request.headers and not int(cfg.get("PROXY_FIX_X_FOR") or 0):
        # Came through a proxy that we do not trust to name the client: the address we see is the
        # proxy's (often 127.0.0.1), which says nothing about who asked.
        return False
    try:
        addr = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr.version == net.version and addr in net for net in _networks(cfg.get("METRICS_ALLOW") or ""))


@bp.get("/metrics")
def metrics_view():
    if not may_read_metrics():
        return Response("forbidden\n", status=403, mimetype="text/plain")
    body = render_metrics(float(current_app.config.get("METRICS_DB_TTL_S") or 0))
    resp = Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)
    resp.headers["Cache-Control"] = "no-store"
    return resp
