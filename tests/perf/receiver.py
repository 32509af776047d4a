"""A loopback receiver of end actions for the benchmarks, run as its own process:

    python tests/perf/receiver.py PORT

POST anything: answers 200 and remembers the Idempotency-Key (a repeat is not counted twice) and
the time it arrived. GET /stats answers {"count", "first", "last"} (times from time.time()).
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
keys: set[str] = set()
times: list[float] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, Nagle's algorithm and the client's
    # delayed ACK hold every answer for 40 ms
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("Idempotency-Key") or ""
        now = time.time()
        with lock:
            if key not in keys:
                keys.add(key)
                times.append(now)
        self._answer(200, b'{"ok": true}')

    do_PUT = do_POST

    def do_GET(self):
        with lock:
            stats = {"count": len(times), "first": times[0] if times else None, "last": times[-1] if times else None}
        if self.path.startswith("/reset"):
            with lock:
                keys.clear()
                times.clear()
        self._answer(200, json.dumps(stats).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
