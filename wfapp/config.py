"""Configuration defaults. Every key can be set from the environment as WFAPP_<KEY>."""

import os
import secrets
from pathlib import Path


class Defaults:
    # The database; empty means a SQLite file in the instance folder.
    DATABASE_URL = ""
    SECRET_KEY = ""
    # Largest request body accepted, in bytes (413 above it).
    MAX_CONTENT_LENGTH = 1024 * 1024
    # SQLite: how long a writer waits for the lock before giving up, in seconds.
    SQLITE_BUSY_TIMEOUT_S = 30
    # The in-process dispatcher of end actions and dependency calls (embedded default).
    DISPATCHER_ENABLED = True
    DISPATCHER_POLL_S = 1.0
    # Outbound calls: hosts and CIDRs that may be called even when not global.
    OUTBOUND_ALLOW = ""
    OUTBOUND_CONNECT_TIMEOUT_S = 3.0
    OUTBOUND_READ_TIMEOUT_S = 10.0
    OUTBOUND_MAX_RESPONSE_BYTES = 256 * 1024
    SIGNING_SECRET = ""
    # werkzeug's method for new staff password hashes; the suite sets a cheap one, never production.
    PASSWORD_HASH_METHOD = "scrypt"
    # This app's public base URL (https://wfapp.example.com): the X-Wfapp-Callback address of a
    # dependency call (where an endpoint that answered 202 posts the outcome) starts with it.
    PUBLIC_URL = ""
    JOB_MAX_ATTEMPTS = 8
    JOB_LEASE_S = 60
    JOB_BACKOFF_BASE_S = 2.0
    JOB_BACKOFF_CAP_S = 600.0
    # Pages
    PAGE_SIZE = 50
    ATTENTION_IDLE_MINUTES = 60  # an open workflow without interaction this long needs attention
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Keep SQL parameters (state_data among them) out of exception messages and logs.
    SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True}
    # Operations (wfapp.ops): logs, metrics, health, reverse proxy, retention.
    LOG_FORMAT = ""  # "json" or "plain"; empty: plain under `flask run --debug`, JSON otherwise
    LOG_LEVEL = "INFO"
    LOG_HEALTH_REQUESTS = False  # log successful /healthz and /readyz probes too
    METRICS_TOKEN = ""  # /metrics accepts "Authorization: Bearer <token>"
    METRICS_ALLOW = "127.0.0.1,::1"  # client addresses/CIDRs that may read /metrics without the token
    METRICS_DB_TTL_S = 10.0  # how long the database's numbers on /metrics are reused
    READYZ_MAX_JOB_LAG_S = 300.0  # /readyz fails when a due job has waited longer (0: no check)
    PROXY_FIX_X_FOR = 0  # number of reverse proxies in front whose X-Forwarded-* headers are trusted
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0
    RETENTION_DAYS = 0  # purge terminal workflows unchanged for this many days (0: keep forever)
    RETENTION_DAYS_BY_TEMPLATE: dict = {}  # {"workflow_template_name": days}; 0 keeps that template's forever
    RETENTION_BATCH_SIZE = 200  # workflows deleted per transaction
    RETENTION_PURGE_DAILY = False  # the dispatcher runs the purge once a day
    EVENTS_RETENTION_DAYS = 30  # the purge deletes public feed events older than this (0: keep them)


def finish_config(app) -> None:
    """Derive settings that depend on the instance folder or on other settings."""
    cfg = app.config
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        url = cfg.get("DATABASE_URL") or f"sqlite:///{instance / 'wfapp.sqlite'}"
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        cfg["SQLALCHEMY_DATABASE_URI"] = url
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    if not cfg.get("SIGNING_SECRET"):
        cfg["SIGNING_SECRET"] = _instance_secret(instance / "signing_secret")


def _instance_secret(path: Path) -> str:
    """A random secret generated once and kept in the instance folder."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value
