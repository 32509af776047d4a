"""What every dashboard response shares: security headers, error pages, HTMX helpers.

Interface for dashboard blueprints (stable; other page groups build on it):

    from wfapp.web import render, is_fragment, hx_redirect, add_trigger, HTMX_STOP_POLLING
    from wfapp.auth import roles_required, ADMIN, STAFF

    @bp.get("/things")
    @roles_required()                      # any signed-in staff user (admin, operator, viewer)
    def things():
        return render("things/list.html", "things/_table.html", rows=...)

    @bp.post("/things/<id>/cancel")
    @roles_required("admin", "operator")   # anonymous -> login page, other roles -> 403
    def cancel(id): ...
        return hx_redirect(url_for(".thing", id=id))

- ``is_fragment()``: true for an HTMX request that is neither boosted nor a history restore.
- ``render(full_template, fragment_template=None, status=200, **ctx)``: renders the fragment for
  an HTMX request (the full page otherwise; without a fragment template the full one is used for
  both), adds ``Vary: HX-Request``, and appends flashed messages to a fragment as an out-of-band
  swap of ``#flash``. Full pages extend ``base.html`` and ``{% include %}`` their fragments, so both
  answers carry the same markup. ``render`` returns a Response, so headers can be added.
- ``hx_redirect(url)``: after a POST. HTMX requests get 204 + ``HX-Redirect``; others a 303.
- ``add_trigger(response, event, detail=None, header="HX-Trigger")``: adds an event to
  ``HX-Trigger`` (or ``HX-Trigger-After-Settle``, ...), merging with events already set (the
  header becomes a JSON object). Never set these headers by hand.
- ``commit_action(action, failure=None, audit=None)``: a dashboard action in one call. It runs
  ``action()`` (one service call), then ``audit(result)``, then commits and returns the result. A
  ``Problem`` from either rolls the session back and ends the request with ``failure(problem)``
  (default: the problem's message flashed, and a redirect back to the page the request came from).
  An answer that must not commit (nothing written, nothing to undo) is ``abort(response)`` inside
  ``action``: an HTTPException is no Problem, so it passes through untouched.
- ``HTMX_STOP_POLLING`` (286): answer a poll with it to make htmx stop polling;
  ``HTMX_NO_CHANGE`` (204): an unchanged poll (htmx keeps the content). Never a raw 304.
- ``base.html`` blocks: ``title``, ``content`` (main), ``head`` (extra CSS/JS files: only files
  from ``static/``, the CSP forbids inline script and style). The nav marks the active item by
  ``active_nav`` in the context: "overview", "workflows", "workflow_templates", "permissions".
- ``templates/_state_form.html``: macro ``state_form(fields, values, errors_by_field,
  readonly=False, prefix="state-")`` renders inputs for a CompiledSchema's ``fields``
  (wfapp.schemas.state_schema.Field); ``errors_by_field`` maps field key -> list of messages
  (``errors_by_field(errors)`` below turns the services' ``[{"path", "message"}]`` into it).
  Read the posted values back with ``state_values_from_form(fields, request.form)``.
- Filters for every template: ``short_id`` (an id's first 8 characters), ``when`` (a timestamp,
  "—" for none), ``duration`` (a timedelta in its two largest units), ``choice_value``,
  ``show_value`` (a state_data value as the operator reads it: yes/no, lists joined, "—"),
  ``tojson_pretty``; global ``nav_url(endpoint, **values)`` (None when no blueprint has it).
- Every response gets the security headers (CSP without inline script/style, nosniff,
  frame-ancestors none, Referrer-Policy same-origin). Errors outside /api render
  ``errors/<code>.html`` (friendly pages; a fragment for HTMX requests); /api is left to the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import (
    Flask,
    Response,
    abort,
    flash,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from wfapp.errors import NotFound, Problem
from wfapp.extensions import db
from wfapp.services.field_errors import errors_by_field as errors_by_field  # part of this interface

T = TypeVar("T")

HTMX_STOP_POLLING = 286
HTMX_NO_CHANGE = 204
# the answer to an htmx poll when nothing changed (htmx keeps the content)
UNCHANGED = ("", HTMX_NO_CHANGE, {"Vary": "HX-Request"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # same-origin keeps the Referer on our own requests (Flask-WTF checks it over HTTPS)
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    500: "Something went wrong",
}


def is_api_path() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def is_fragment() -> bool:
    """An HTMX request that wants a fragment (not boosted, not a history restore)."""
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    return not htmx.boosted and not htmx.history_restore_request


def render(full_template: str, fragment_template: str | None = None, status: int = 200, **ctx: Any) -> Response:
    fragment = is_fragment()
    if fragment:
        body = render_template(fragment_template or full_template, is_fragment=True, **ctx)
        messages = get_flashed_messages(with_categories=True)
        if messages:
            body += render_template("_flashes.html", messages=messages, oob=True)
    else:
        body = render_template(full_template, is_fragment=False, **ctx)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def hx_redirect(url: str) -> Response:
    """Redirect after a POST: HX-Redirect for HTMX (no 302 into a swap target), 303 otherwise."""
    response: Any
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response


def add_trigger(response: Response, event: str, detail: Any = None, header: str = "HX-Trigger") -> Response:
    """Add an HX-Trigger event to the response, keeping the events already there."""
    events: dict[str, Any] = {}
    current = response.headers.get(header)
    if current:
        try:
            parsed = json.loads(current)
            events = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            events = {name.strip(): None for name in current.split(",") if name.strip()}
    events[event] = detail
    response.headers[header] = json.dumps(events)
    return response


def poll_unchanged(token: Callable[[], str | None]) -> bool:
    """Whether an htmx poll's `since` (the token of what it shows) is still the current token."""
    since = request.args.get("since", "")
    return bool(since) and since == token()


def polled_fragment(token: Callable[[], str | None], fragment: str, context: Callable[[], dict[str, Any]]) -> Any:
    """An htmx poll's answer: UNCHANGED while its `since` is the current token, else the fragment."""
    if poll_unchanged(token):
        return UNCHANGED
    return render(fragment, fragment, **context())


def found_or_404(lookup: Callable[..., T], *args: Any) -> T:
    """``lookup(db.session, *args)``; a NotFound ends the request with a 404 page."""
    try:
        return lookup(db.session, *args)
    except NotFound:
        abort(404)


def commit_action(
    action: Callable[[], T],
    failure: Callable[[Problem], Response] | None = None,
    audit: Callable[[T], Any] | None = None,
) -> T:
    """Run a dashboard action: the service call, its audit entry, the commit. On a Problem the
    session is rolled back and the request ends with ``failure(problem)``; without ``failure``
    the problem's message is flashed and the browser goes back to the page it came from."""
    try:
        result = action()
        if audit is not None:
            audit(result)
    except Problem as exc:
        db.session.rollback()
        if failure is None:
            flash(exc.detail, "error")
            back = request.referrer or ""
            response = hx_redirect(back if back.startswith(request.host_url) else url_for("overview.index"))
        else:
            response = failure(exc)
        raise HTTPException(response=response) from exc
    db.session.commit()
    return result


def state_values_from_form(fields, form, prefix: str = "state-") -> dict[str, Any]:
    """The values of a form rendered by _state_form.html, converted to the fields' JSON types.
    A field left empty is absent from the result (a merge then leaves it unchanged); values that
    do not convert stay strings so that the schema reports them beside the field."""
    values: dict[str, Any] = {}
    for f in fields:
        name = prefix + f.key
        if f.type == "boolean":
            # three states: "" (not set: the field keeps its value), "true", "false"
            choice = form.get(name, "")
            if choice in ("true", "false"):
                values[f.key] = choice == "true"
            elif choice:
                values[f.key] = choice  # the schema reports it beside the field
            continue
        if f.type == "array":
            raw = form.get(name, "")
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                values[f.key] = items
            continue
        raw = form.get(name, "")
        if raw == "":
            continue
        if f.type in ("number", "integer"):
            values[f.key] = _to_number(raw.strip(), f.type)
        elif f.type == "enum":
            values[f.key] = _enum_value(raw, f.schema.get("enum") or [])
        else:
            values[f.key] = raw
    return values


def _to_number(raw: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(raw)
        number = float(raw)
        return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number
    except ValueError:
        return raw


def _enum_value(raw: str, choices: list[Any]) -> Any:
    for choice in choices:
        if _choice_value(choice) == raw:
            return choice
    return raw


def _choice_value(choice: Any) -> str:
    """How a choice travels in an HTML form (the value attribute of its option)."""
    return choice if isinstance(choice, str) else json.dumps(choice)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or always, with
    SESSION_COOKIE_SECURE=True)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        try:
            return request.is_secure
        except RuntimeError:
            return False


def render_error(code: int, description: str = "") -> Response:
    """The dashboard's error page (a fragment for HTMX requests); wfapp.api.errors calls it for
    every error outside /api."""
    title = ERROR_TITLES.get(code, "Error")
    template = f"errors/{code}.html" if code in (403, 404, 500) else "errors/error.html"
    if is_fragment():
        body = render_template("errors/_error.html", code=code, title=title, description=description)
    else:
        body = render_template(template, code=code, title=title, description=description)
    response = make_response(body, code)
    response.vary.add("HX-Request")
    return response


def short_id(value: Any) -> str:
    """The first 8 characters of an id (a UUID's first group)."""
    return str(value)[:8]


def when(ts: datetime | str | None) -> str:
    """A timestamp as the pages show it (UTC, to the second); ISO strings (as stored in JSON
    documents such as waiting_for) read the same."""
    if isinstance(ts, str):
        try:
            return when(datetime.fromisoformat(ts.replace("Z", "+00:00")))
        except ValueError:
            return ts
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


def duration(td: timedelta | None) -> str:
    """A time span in its two largest units: "2 d 3 h", "4 min 5 s"."""
    if td is None:
        return "—"
    seconds = int(td.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def refuse_hostile_input() -> Response | None:
    """Dashboard forms and query arguments holding a NUL or another control character (a lone
    surrogate cannot arrive in a form: werkzeug decodes invalid UTF-8 as U+FFFD) are refused with
    a message before any view sees them, so that nothing like it is stored or logged. Form values
    keep tab, CR and LF (textareas); `next` is left to the login page, which ignores a bad one.
    The API checks its own input (wfapp.api.operations)."""
    from wfapp.api.errors import is_api_request
    from wfapp.services.validation import hostile_text

    if is_api_request():
        return None
    args = {k: v for k, v in request.args.lists() if k != "next"}
    found = hostile_text(args, controls=True, allow="") or hostile_text(dict(request.form.lists()))
    if found is None:
        return None
    name = found[0].strip("/").split("/")[0] or "a field"
    message = f"The field {name!r} {found[1].removeprefix('a key ')}: remove it and send again."
    if is_fragment() or request.headers.get("HX-Request") == "true":
        response = make_response(render_template("_flashes.html", messages=[("error", message)], oob=True), 422)
        response.headers["HX-Reswap"] = "none"
        return response
    return render_error(400, message)


def show_value(value: Any) -> str:
    """How a state_data value reads on every page (forms, timeline, notices): yes/no for
    booleans, a comma-separated list for arrays, "—" for no value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def field_titles(fields) -> dict[str, str]:
    """Field key -> the title the operator reads (the key when the field has none)."""
    return {f.key: f.title or f.key for f in fields or []}


def titled(keys, titles: dict[str, str]) -> str:
    """Field keys as the operator reads them: their titles, comma-separated."""
    return ", ".join(titles.get(k, k) for k in keys or [])


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.jinja_env.globals["choice_value"] = _choice_value
    app.jinja_env.filters["choice_value"] = _choice_value
    app.jinja_env.filters["short_id"] = short_id
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["show_value"] = show_value
    app.jinja_env.globals["field_titles"] = field_titles
    app.jinja_env.filters["titled"] = titled

    def nav_url(endpoint: str, **values: Any) -> str | None:
        """The URL of an endpoint, or None when no blueprint provides it (yet)."""
        return url_for(endpoint, **values) if endpoint in app.view_functions else None

    app.jinja_env.globals["nav_url"] = nav_url
    app.jinja_env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)

    app.before_request(refuse_hostile_input)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
