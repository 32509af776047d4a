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
    JOB_MAX_ATTEMPTS = 8
    JOB_LEASE_S = 60
    JOB_BACKOFF_BASE_S = 2.0
    JOB_BACKOFF_CAP_S = 600.0
    # Pages
    PAGE_SIZE = 50
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    SQLALCHEMY_TRACK_MODIFICATIONS = False


def finish_config(app) -> None:
    """Derive settings that depend on the instance folder or on other settings."""
    cfg = app.config
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        url = cfg.get("DATABASE_URL") or f"sqlite:///{instance / 'wfapp.sqlite'}"
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
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
