"""Running wfapp in production: health and readiness, Prometheus metrics, request and job logs,
backups, retention, and the reverse proxy settings. `init_app(app)` wires all of it."""

from __future__ import annotations

import os
import time
import uuid

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

PROXY_FIX_KEYS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def apply_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* from as many proxies as PROXY_FIX_X_* say (none by default)."""
    counts = {key: int(app.config.get(f"PROXY_FIX_{key.upper()}") or 0) for key in PROXY_FIX_KEYS}
    if any(counts.values()) and not isinstance(app.wsgi_app, ProxyFix):
        # Flask documents wrapping wsgi_app in middleware this way; its stubs declare a method
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]


def _actor() -> str | None:
    actor = g.get("actor")
    if actor:
        return str(actor)
    user = g.get("_login_user")  # set by Flask-Login when the request looked at the staff user
    if user is not None and getattr(user, "is_authenticated", False):
        return f"staff:{user.username}"
    return None


def _workflow_id(response) -> str | None:
    wid = (request.view_args or {}).get("workflow_id")  # the API's and the dashboard's name for it
    if wid:
        return str(wid)
    if response.status_code == 201:
        location = response.headers.get("Location", "")
        if location.startswith("/api/workflows/"):
            return location.rsplit("/", 1)[-1]
    return None


def _init_request_hooks(app: Flask) -> None:
    from wfapp.ops import logging as ops_logging
    from wfapp.ops import metrics

    def start_request():
        g.ops_started = time.perf_counter()
        g.request_id = (
            ops_logging.sane_request_id(request.headers.get(ops_logging.REQUEST_ID_HEADER)) or uuid.uuid4().hex
        )

    # First of all before_request functions: the clock starts and the id exists before anything
    # else runs (and logs).
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)

    @app.after_request
    def finish_request(response):
        started = g.get("ops_started")
        if started is None:  # a before_request ahead of ours answered
            return response
        duration = time.perf_counter() - started
        response.headers[ops_logging.REQUEST_ID_HEADER] = g.request_id
        rule = request.url_rule.rule if request.url_rule is not None else None
        metrics.observe_request(request.method, rule or "unmatched", response.status_code, duration)
        if request.path in PROBE_PATHS and response.status_code < 400 and not app.config.get("LOG_HEALTH_REQUESTS"):
            return response
        ops_logging.log_request(
            method=request.method,
            path=request.path,
            rule=rule,
            status=response.status_code,
            duration_s=duration,
            actor=_actor(),
            workflow_id=_workflow_id(response),
            remote_addr=request.remote_addr,
        )
        return response


def dispatcher_round(app: Flask) -> None:
    """Called by a dispatcher (embedded thread or worker) once per round: a heartbeat for
    /metrics, and the daily retention purge when RETENTION_PURGE_DAILY is on. Never raises."""
    try:
        from wfapp.ops import health, retention

        health.note_dispatcher_heartbeat()
        retention.tick(app)
    except Exception:  # pragma: no cover - an observer must not stop the dispatcher
        pass


def init_app(app: Flask) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus_client writes its per-process files there from the first metric on.
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    from wfapp.ops import health, metrics
    from wfapp.ops import logging as ops_logging

    apply_proxy_fix(app)
    ops_logging.init_app(app)
    _init_request_hooks(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
