"""The REST API under /api: parse, authorize, call a service, commit, serialize."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.record_once
def _bounded_int_urls(state):
    # Before any rule is added (the API is registered first): <int:…> of every route stays
    # within what the database can compare with.
    from wfapp.api.operations import DatabaseInteger

    state.app.url_map.converters["int"] = DatabaseInteger


from wfapp.api import directory, events, migration, openapi, outbox, privacy, workflow_templates, workflows  # noqa: E402,F401
