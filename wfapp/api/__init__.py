"""The REST API under /api: parse, authorize, call a service, commit, serialize."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from wfapp.api import directory, openapi, outbox, privacy, workflow_templates, workflows  # noqa: E402,F401
