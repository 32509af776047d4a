"""Settings of the peer project: django-viewflow 2.4 running a loan-application flow, for the
benchmark's comparison (tests/perf/peer_bench.py). Only what the JSON API needs: no sessions,
no admin, no templates. SQLite as Django recommends it for concurrent writers: WAL,
synchronous=NORMAL, a busy timeout and write transactions that begin IMMEDIATE (Django ≥ 5.1)."""

import os

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-bench-secret-key")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "viewflow",
    "viewflow.workflow",
    "loans",
]
MIDDLEWARE: list[str] = []
# viewflow's site middleware (its HTML frontend's permissions) needs sessions and request.user;
# the JSON API uses neither
VIEWFLOW = {"AUTOREGISTER": False}
ROOT_URLCONF = "loanpeer.urls"
WSGI_APPLICATION = "loanpeer.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PEER_SQLITE_PATH", "/tmp/loanpeer.sqlite"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

# The API's bearer token and the end action's target (the benchmark's loopback receiver).
PEER_API_TOKEN = os.environ.get("PEER_API_TOKEN", "peer-bench-token")
PEER_END_ACTION_URL = os.environ.get("PEER_END_ACTION_URL", "http://127.0.0.1:9/end-action")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # 4xx answers are the API's own (a missing field, an unknown id): not worth a log line each
    "loggers": {"django.request": {"level": "ERROR"}},
}
