"""A real HTTP server on 127.0.0.1, started by a test, as the receiving end of end actions and
dependency calls. It records every request and answers from a script."""

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa

from wfapp.models import Job, JobStatus


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # hold the request this long before answering (a slow receiver)
    hold: threading.Event | None = None  # hold until this event is set (or the server stops)
    drip_s: float = 0.0  # send the headers, then the body one byte every drip_s seconds


class Receiver:
    """`script` is a list of answers used in order (the last one repeats) or a function of the
    request. An answer is an Answer, a status code, or "timeout" (hold for 2 s)."""

    def __init__(self, script: list | Callable[[Received], Any] = (200,)):
        self.script = script
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Received(self.command, self.path, dict(self.headers.items()), body)
                with receiver.lock:
                    receiver.requests.append(req)
                    n = len(receiver.requests)
                answer = receiver._answer(req, n)
                if answer.hold is not None:
                    while not answer.hold.is_set() and not receiver.stopping.is_set():
                        answer.hold.wait(0.05)
                if answer.delay_s:
                    receiver.stopping.wait(answer.delay_s)
                if receiver.stopping.is_set() and (answer.hold is not None or answer.delay_s):
                    return
                payload = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else json.dumps(answer.body if answer.body is not None else {"ok": answer.status < 400}).encode()
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if answer.drip_s:
                    for i in range(len(payload)):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        if receiver.stopping.wait(answer.drip_s):
                            return
                else:
                    self.wfile.write(payload)

            def _safe(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                    self._handle()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _safe

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _answer(self, req: Received, n: int) -> Answer:
        a = self.script(req) if callable(self.script) else self.script[min(n - 1, len(self.script) - 1)]
        if a == "timeout":
            return Answer(200, delay_s=2.0)
        if isinstance(a, int):
            return Answer(a)
        if isinstance(a, dict):
            return Answer(200, body=a)
        return a

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {len(self.requests)} requests, expected {count}")
            time.sleep(0.02)


def drain(app, db, timeout: float = 15.0, owner: str = "test-worker") -> None:
    """Run the dispatcher until no job is pending or running (backoffs in tests are short)."""
    from wfapp.outbox.run import run_due_jobs

    deadline = time.monotonic() + timeout
    while True:
        run_due_jobs(app, owner=owner)
        left = db.count(Job, Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{left} job(s) still pending after {timeout}s: "
                f"{[(j.id, j.status, j.attempts, j.last_error) for j in db.scalars(sa.select(Job))]}"
            )
        time.sleep(0.02)


FAST = {"JOB_BACKOFF_BASE_S": 0.02, "JOB_BACKOFF_CAP_S": 0.1, "JOB_LEASE_S": 5, "OUTBOUND_ALLOW": "127.0.0.1"}
