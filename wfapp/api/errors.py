"""One place maps domain errors and HTTP errors to application/problem+json (RFC 9457)."""

import logging
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

from wfapp.errors import Problem
from wfapp.ops.logging import log_error

log = logging.getLogger(__name__)
PROBLEM_MIMETYPE = "application/problem+json"


def problem_response(
    status: int, title: str, detail: str = "", errors: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail or title}
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)


def from_problem(exc: Problem) -> Response:
    resp = problem_response(exc.status, exc.title, exc.detail, exc.errors, **exc.extra)
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="wfapp"'
    return resp


def from_http_exception(exc: HTTPException) -> Response:
    detail = exc.description or exc.name
    if exc.code == 413:
        detail = f"the request body is larger than the limit of {request.max_content_length} bytes"
    resp = problem_response(exc.code or 500, exc.name, detail)
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="wfapp"'
    return resp


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        from wfapp.extensions import db

        db.session.rollback()
        if is_api_request():
            return from_problem(exc)
        return _page_error(exc.status, exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.response is not None:  # an answer made in full by the view (wfapp.web.commit_action)
            return exc.response
        if is_api_request():
            return from_http_exception(exc)
        return _page_error(exc.code or 500, exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log_unexpected(exc)
        from wfapp.extensions import db

        db.session.rollback()
        if is_api_request():
            return problem_response(500, "Internal server error", "an unexpected error; it has been logged")
        return _page_error(500, InternalServerError())


def log_unexpected(exc: Exception) -> None:
    """Log an unexpected error of a request; a database error by its class and SQLSTATE alone
    (wfapp.ops.logging.log_error)."""
    log_error(log, exc, "unhandled error on %s %s", request.method, request.path)


def _page_error(status: int, exc: Exception):
    """Errors outside /api get the dashboard's error page."""
    from wfapp import web

    if status < 400:
        return exc
    if isinstance(exc, Problem):
        description = exc.detail
    elif isinstance(exc, HTTPException) and status != 500:
        description = exc.description or ""
    else:
        description = ""
    return web.render_error(status, description)
