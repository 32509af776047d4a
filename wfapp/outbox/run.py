"""Running the outbox: each job is claimed (claim.py), called outside any transaction (call.py),
then recorded (record.py).

Runs as a thread inside the app (the embedded default, DISPATCHER_ENABLED, started by the first
request served) and as `flask --app app worker [--concurrency N]` processes, any number of them,
on PostgreSQL, each with N dispatcher threads until SIGTERM or SIGINT.
"""

import logging
import signal
import threading
from typing import Any

import requests
from flask import Flask

from wfapp import ops
from wfapp.extensions import db
from wfapp.models import JobKind
from wfapp.ops.logging import log_error
from wfapp.outbox import http as outbound
from wfapp.outbox import webhooks
from wfapp.outbox.call import call
from wfapp.outbox.claim import Claimed, claim_one
from wfapp.outbox.clock import run_due_timers
from wfapp.outbox.jobs import worker_id
from wfapp.outbox.record import record, start_follow_up

log = logging.getLogger(__name__)


def process(app: Flask, http: requests.Session, c: Claimed) -> str:
    """Handle one claimed job (in the current app context); returns the attempt's outcome."""
    if c.kind == JobKind.END_ACTION and c.payload.get("type") == "start_workflow":
        return start_follow_up(c)
    if c.kind == JobKind.WEBHOOK:
        return webhooks.deliver(app.config, http, c)
    result, summary = call(app.config, http, c)  # no transaction is open here
    try:
        return record(c, result, summary)
    except Exception:
        db.session.rollback()
        raise


def run_due_jobs(app: Flask, limit: int = 100, owner: str | None = None, http: requests.Session | None = None) -> int:
    """Send every job that is due now (up to `limit`), one after the other; returns how many
    were handled. The dispatcher thread and the workers loop on this; tests call it directly."""
    owner = owner or worker_id()
    own_http = http is None
    http = http or outbound.session_from_config(app.config)
    done = 0
    try:
        while done < limit:
            with app.app_context():
                claimed = claim_one(owner)
                if claimed is None:
                    break
                process(app, http, claimed)
            done += 1
    finally:
        if own_http:
            http.close()
    return done


class Dispatcher(threading.Thread):
    """Loops on run_due_jobs until stopped; sleeps DISPATCHER_POLL_S when nothing is due."""

    def __init__(self, app: Flask, stop: threading.Event, name: str = "wfapp-dispatcher"):
        super().__init__(name=name, daemon=True)
        self.app, self.stop = app, stop

    def run(self) -> None:
        poll = float(self.app.config["DISPATCHER_POLL_S"])
        http = outbound.session_from_config(self.app.config)
        try:
            while not self.stop.is_set():
                try:
                    done = run_due_jobs(self.app, limit=50, http=http)
                    done += run_due_timers(self.app)
                except Exception as exc:
                    log_error(log, exc, "the dispatcher failed; trying again in %ss", poll)
                    done = 0
                ops.dispatcher_round(self.app)  # heartbeat on /metrics, daily retention purge
                if not done:
                    self.stop.wait(poll)
        finally:
            http.close()


# --- the embedded dispatcher ------------------------------------------------------------------


def start_embedded(app: Flask) -> None:
    """Start the app's dispatcher thread unless it runs already."""
    state: dict[str, Any] = app.extensions.setdefault("wfapp_dispatcher", {"lock": threading.Lock(), "thread": None})
    with state["lock"]:
        if state["thread"] is None:
            stop = threading.Event()
            thread = Dispatcher(app, stop)
            state.update(stop=stop, thread=thread)
            thread.start()


def stop_embedded(app: Flask) -> None:
    state = app.extensions.get("wfapp_dispatcher")
    if state and state.get("thread") is not None:
        state["stop"].set()
        state["thread"].join(10)
        state["thread"] = None


def init_app(app: Flask) -> None:
    if app.config.get("DISPATCHER_ENABLED"):
        # Started by the first request served, so that CLI commands (a worker included) never
        # run a second dispatcher inside themselves.
        @app.before_request
        def _start_dispatcher():
            state = app.extensions.get("wfapp_dispatcher")
            if not state or state.get("thread") is None:
                start_embedded(app)


# --- worker processes -------------------------------------------------------------------------


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (call from the main thread)."""
    stop = threading.Event()

    def _stop(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def start_workers(app: Flask, concurrency: int, stop: threading.Event) -> list[Dispatcher]:
    threads = [Dispatcher(app, stop, name=f"wfapp-worker-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    return threads


def wait_for_workers(stop: threading.Event, threads: list[Dispatcher]) -> None:
    """Wait until `stop` is set, then for each thread to finish the job in hand."""
    while not stop.wait(0.5):
        pass
    for t in threads:
        t.join(60)
