"""wfapp's benchmarks: `make bench` (full, under 15 minutes on 2 cores) or `make bench-quick`
(under 4 minutes). Prints one table per database (SQLite, PostgreSQL) with every hot path,
beside a baseline measured in the same run; the SQLite table also compares whole lifecycles
with django-viewflow 2.4 as a peer (tests/perf/peer/, installed into its own virtual
environment by peer_bench.py), and a scale-out table follows the PostgreSQL one (1, 2, 4
gunicorn workers; 1 and 3 worker processes). Progress goes to stderr, the tables to stdout.

    .venv/bin/python tests/perf/run.py [--quick] [--only sqlite|postgresql] [--pg-url URL]

PostgreSQL: WFAPP_BENCH_PG_URL (default postgresql://wfapp:wfapp@127.0.0.1/wfapp_bench); the
database is created when missing (as root, through `su postgres`). Its schema is dropped and
recreated: never point this at a database whose data you want to keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests/: the shared statement counter

import seed  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlcount import counting  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEFAULT_PG_URL = "postgresql://wfapp:wfapp@127.0.0.1/wfapp_bench"
SECRET_KEY = "bench-secret-key"
SIGNING_SECRET = "bench-signing-secret"
CLIENTS = 8
GUNICORN_WORKERS = 2


@dataclass
class Mode:
    quick: bool
    wrk_s: int
    warm_s: int
    list_sizes_sqlite: tuple[int, ...]
    list_sizes_pg: tuple[int, ...]
    list_requests: int
    dispatch_jobs: int
    scale_s: int

    @classmethod
    def make(cls, quick: bool) -> Mode:
        if quick:
            return cls(True, 3, 1, (10_000, 100_000), (10_000, 100_000), 20, 150, 3)
        return cls(False, 15, 2, (10_000, 100_000), (10_000, 100_000, 1_000_000), 80, 1000, 8)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the table


@dataclass
class Row:
    item: str
    what: str
    result: str
    target: str = ""
    verdict: str = ""


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args, **kw) -> None:
        self.rows.append(Row(*args, **kw))

    def render(self) -> str:
        head = ("#", "measurement", "result", "target", "met")
        return render_grid(
            self.title, head, [(r.item, r.what, r.result, r.target, r.verdict) for r in self.rows], self.notes
        )


@dataclass
class Grid:
    """A small table of its own columns (the scale-out runs)."""

    title: str
    head: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        return render_grid(self.title, self.head, self.rows, self.notes)


def render_grid(title: str, head: tuple[str, ...], rows: list[tuple[str, ...]], notes: list[str]) -> str:
    cells = [head, *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [f"## {title}", ""]
    for n, c in enumerate(cells):
        lines.append("| " + " | ".join(c[i].ljust(widths[i]) for i in range(len(head))) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for note in notes:
        lines.append(f"- {note}")
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout}s")


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wfapp_env(db_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "WFAPP_DATABASE_URL": db_url,
            "WFAPP_SECRET_KEY": SECRET_KEY,
            "WFAPP_SIGNING_SECRET": SIGNING_SECRET,
            "WFAPP_OUTBOUND_ALLOW": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Gunicorn:
    """gunicorn, 2 sync workers unless told, on a loopback port: the same setup for wfapp, the
    baseline and the peer (from the peer's own environment)."""

    def __init__(
        self,
        app_spec: str,
        env: dict[str, str],
        probe_path: str = "/",
        workers: int = GUNICORN_WORKERS,
        bin_dir: Path = VENV_BIN,
        cwd: Path = ROOT,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = tempfile.NamedTemporaryFile("w+", prefix="wfapp-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115 (kept open for the server's lifetime)
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--backlog",
                "256",
                "--timeout",
                "60",
                "--log-level",
                "warning",
                app_spec,
            ],
            cwd=cwd,
            env=env,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + probe_path, proc=self.proc)

    def worker_pids(self) -> list[int]:
        pids = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def peak_rss_mb(self) -> float:
        """The largest VmHWM (peak resident set) of the workers, in MiB."""
        peak = 0
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        return peak / 1024

    def close(self) -> None:
        stop(self.proc)
        self.logfile.close()

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(Path(self.logfile.name).read_text().splitlines()[-n:])


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "receiver.py"), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.proc.stdout.readline()
        wait_http(self.url + "/stats")

    def stats(self, reset: bool = False) -> dict[str, Any]:
        return json.loads(urllib.request.urlopen(self.url + ("/reset" if reset else "/stats"), timeout=5).read())

    def close(self) -> None:
        stop(self.proc)


def run_wrk(
    script: str, url: str, connections: int, threads: int, duration: int, env: dict[str, str]
) -> dict[str, Any]:
    full_env = dict(os.environ, BENCH_LUA_DIR=str(HERE / "lua"), **env)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "lua" / script),
        url,
    ]
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            r = json.loads(line[len("BENCH_JSON ") :])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
            r["errors"] = sum(v for k, v in r.items() if k.startswith("errors_"))
            return r
    raise RuntimeError(f"wrk gave no figures: {out.stdout[-500:]} {out.stderr[-500:]}")


def fmt_wrk(r: dict[str, Any]) -> str:
    s = (
        f"{r['rps']:.0f} req/s, p50 {r['p50_us'] / 1000:.1f} / p95 {r['p95_us'] / 1000:.1f} / "
        f"p99 {r['p99_us'] / 1000:.1f} ms"
    )
    if r["errors"]:
        s += f", {r['errors']} errors"
    return s


# --------------------------------------------------------------------------- in-process measuring


def make_app(db_url: str, **config):
    import logging

    from wfapp import create_app

    app = create_app(
        {
            "DATABASE_URL": db_url,
            "SECRET_KEY": SECRET_KEY,
            "SIGNING_SECRET": SIGNING_SECRET,
            "DISPATCHER_ENABLED": False,
            "OUTBOUND_ALLOW": "127.0.0.1",
            **config,
        }
    )
    # the app's request and job logs of the in-process measurements would drown the progress
    for name in ("wfapp", "wfapp.request", "wfapp.jobs"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return app


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


@dataclass
class Timing:
    p50: float
    p95: float
    statements: int
    status: int


def time_get(app, client, path: str, n: int, headers: dict[str, str] | None = None, expect=(200,)) -> Timing:
    """Server time (in-process, through the WSGI app) of n GETs after a warm-up."""
    for _ in range(3):
        r = client.get(path, headers=headers or {})
        if r.status_code not in expect:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.get_data(as_text=True)[:300]}")
    times = []
    with counting(app) as stmts:
        client.get(path, headers=headers or {})
        n_stmts = len(stmts)
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path, headers=headers or {})
        times.append((time.perf_counter() - t0) * 1000)
    return Timing(percentile(times, 50), percentile(times, 95), n_stmts, r.status_code)


def staff_client(app):
    """A test client signed in as the bench operator (through the login form)."""
    import re

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    r = client.post(
        "/login",
        data={"username": seed.STAFF_USER, "password": seed.STAFF_PASSWORD, "csrf_token": m.group(1) if m else ""},
    )
    if r.status_code not in (302, 303):
        raise RuntimeError(f"staff login failed: {r.status_code}")
    return client


def validation_row(table: Table, n: int) -> None:
    """Item 4: a merge of two fields into a 20-field schema, with the cached validator and with
    a validator built on every call."""
    from wfapp.schemas.state_schema import build_compiled, compile_state_schema, compiled_for_version

    schema: dict[str, Any] = {}
    state: dict[str, Any] = {}
    kinds = [
        ({"type": "string", "required": True, "minLength": 2, "maxLength": 100}, "Ada Lovelace"),
        ({"type": "number", "required": True, "minimum": 1000, "maximum": 1e7}, 50000),
        ({"type": "integer", "minimum": 0, "maximum": 600}, 36),
        ({"type": "email", "required": True}, "ada@example.com"),
        ({"type": "date"}, "1990-12-10"),
        ({"type": "phone"}, "+44 20 7946 0000"),
        ({"type": "enum", "choices": ["home", "car", "study", "other"]}, "home"),
        ({"type": "boolean"}, True),
        ({"type": "text", "maxLength": 2000}, "A longer free text answer."),
        ({"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"}, "AB123456"),
    ]
    for i in range(20):
        spec, value = kinds[i % len(kinds)]
        schema[f"field_{i}"] = dict(spec, title=f"Field {i}")
        state[f"field_{i}"] = value

    class Version:
        id = -4242
        state_schema = schema

    patch = {"field_1": 75000, "field_3": "grace@example.com"}
    after = {**state, **patch}

    def cached():
        errors = compiled_for_version(Version).validate_merge(after, patch.keys())
        assert not errors, errors

    def rebuilt():
        errors = build_compiled(compile_state_schema(schema)).validate_merge(after, patch.keys())
        assert not errors, errors

    def per_call_us(fn: Callable[[], None], count: int) -> float:
        fn()
        t0 = time.perf_counter()
        for _ in range(count):
            fn()
        return (time.perf_counter() - t0) / count * 1e6

    c = per_call_us(cached, n * 20)
    r = per_call_us(rebuilt, n)
    table.add(
        "4",
        "validation: merge 2 fields into a 20-field schema",
        f"cached validator {c:.0f} µs; built on every call {r:.0f} µs ({r / c:.0f}× slower)",
        "",
        "",
    )


# --------------------------------------------------------------------------- one database


class Bench:
    def __init__(self, name: str, db_url: str, mode: Mode, tmpdir: Path):
        self.name, self.db_url, self.mode, self.tmp = name, db_url, mode, tmpdir
        self.is_pg = db_url.startswith("postgresql")
        self.table = Table(f"{name} ({'quick' if mode.quick else 'full'} run)")
        self.app = None
        self.base: seed.Base | None = None
        self.receiver: Receiver | None = None
        self.baseline: dict[str, Any] | None = None
        self.peak_rss: list[float] = []
        self.wfapp_lifecycles: tuple[float, dict[str, Any]] | None = None  # 8 clients: rate, wrk figures
        self.extra_tables: list[Grid] = []
        self.worker_logs: list[Path] = []

    def step(self, label: str, fn: Callable[[], None], item: str = "") -> None:
        log(f"{self.name}: {label}")
        t0 = time.time()
        try:
            fn()
        except Exception as exc:  # the table is always printed; the row says what went wrong
            traceback.print_exc(file=sys.stderr)
            self.table.add(item, label, f"error: {type(exc).__name__}: {str(exc)[:120]}", "", "n/a")
        log(f"{self.name}: {label} took {time.time() - t0:.1f}s")

    def run(self) -> Table:
        self.receiver = Receiver()
        try:
            self.step("set-up", self.setup)
            if self.base is None:
                return self.table
            self.step("API throughput against the baseline", self.api_throughput, "1")
            self.step("whole lifecycles", self.lifecycles, "7")
            if self.is_pg:
                self.step("scale-out: web and worker processes", self.scale_out, "9")
            else:
                self.step("whole lifecycles of the peer (django-viewflow)", self.peer_lifecycles, "8")
            self.step("dispatcher throughput", self.dispatcher, "5")
            self.step("validation", lambda: validation_row(self.table, 200), "4")
            self.step("list cost as data grows", self.list_cost, "2")
            self.table.add(
                "6",
                "memory: peak RSS of a gunicorn worker during the load",
                f"{max(self.peak_rss):.0f} MiB" if self.peak_rss else "n/a",
                "< 150 MiB",
                verdict(max(self.peak_rss) < 150 if self.peak_rss else None),
            )
        finally:
            self.receiver.close()
        order = {k: i for i, k in enumerate("123456789")}
        self.table.rows.sort(key=lambda r: order.get(r.item, 9))
        return self.table

    # -- set-up
    def setup(self) -> None:
        self.app = make_app(self.db_url)
        seed.reset_schema(self.app)
        self.base = seed.create_base(self.app, self.receiver.url + "/end-action")

    def env(self, **extra: str) -> dict[str, str]:
        return wfapp_env(self.db_url, **extra)

    # -- 1 and 6
    def api_throughput(self) -> None:
        from baseline_app import create_docs, make_engine

        ids_file = self.tmp / f"{self.name}-ids.txt"
        ids_file.write_text("\n".join(seed.open_workflow_ids(self.app, self.base, 200)) + "\n")
        docs_file = self.tmp / f"{self.name}-docs.txt"
        docs_file.write_text("\n".join(str(i) for i in range(1, 201)) + "\n")
        engine = make_engine(self.db_url)
        create_docs(engine, 200)
        engine.dispose()
        m = self.mode

        server = Gunicorn(
            "tests.perf.baseline_app:app", dict(self.env(), BENCH_DATABASE_URL=self.db_url), probe_path="/docs/0"
        )
        try:
            env = {"BENCH_IDS": str(docs_file), "BENCH_PREFIX": "/docs/"}
            run_wrk("put.lua", server.url, CLIENTS, 2, m.warm_s, env)
            self.baseline = run_wrk("put.lua", server.url, CLIENTS, 2, m.wrk_s, env)
        finally:
            server.close()
        self.table.add("1", "baseline: Flask + SQLAlchemy, PUT one JSON row", fmt_wrk(self.baseline), "", "")

        server = Gunicorn("app:app", self.env(WFAPP_DISPATCHER_ENABLED="false"), probe_path="/api/openapi.json")
        try:
            env = {"BENCH_IDS": str(ids_file), "BENCH_PREFIX": "/api/workflows/", "BENCH_TOKEN": self.base.token}
            run_wrk("put.lua", server.url, CLIENTS, 2, m.warm_s, env)
            put = run_wrk("put.lua", server.url, CLIENTS, 2, m.wrk_s, env)
            env = {
                "BENCH_TOKEN": self.base.token,
                "BENCH_TEMPLATE": seed.TEMPLATE,
                "BENCH_USER": "bench_user_1",
                "BENCH_RUN": uuid.uuid4().hex[:8],
            }
            run_wrk("post.lua", server.url, CLIENTS, 2, m.warm_s, env)
            env["BENCH_RUN"] = uuid.uuid4().hex[:8]
            post = run_wrk("post.lua", server.url, CLIENTS, 2, m.wrk_s, env)
            self.peak_rss.append(server.peak_rss_mb())
        finally:
            server.close()
        base_rps = self.baseline["rps"] or 1
        for label, r, target in (
            ("API: PUT /api/workflows/{id} (merge + validation + event)", put, 0.5 if self.is_pg else 0.7),
            ("API: POST /api/workflows (start)", post, 0.5),
        ):
            ratio = r["rps"] / base_rps
            ok = ratio >= target and not r["errors"]
            self.table.add("1", label, f"{fmt_wrk(r)}; {ratio:.2f}× baseline", f"≥ {target}× baseline", verdict(ok))

    # -- 7
    def lifecycle_statements(self) -> int:
        """SQL statements of one lifecycle: start, merge two fields, complete, and the
        dispatcher's delivery of the end action (claim, call, record)."""
        from wfapp.outbox.run import run_due_jobs

        client = self.app.test_client()
        h = {"Authorization": f"Bearer {self.base.token}"}

        def one(stmts: list[str] | None = None) -> None:
            r = client.post(
                "/api/workflows",
                json={
                    "template_id": seed.TEMPLATE,
                    "user_id": "bench_user_2",
                    "conversation_id": f"count-{uuid.uuid4().hex}",
                },
                headers=h,
            )
            assert r.status_code == 201, r.get_data(as_text=True)
            wid = r.json["id"]
            r = client.put(f"/api/workflows/{wid}", json={"state_data": {"amount": 5000, "purpose": "car"}}, headers=h)
            assert r.status_code == 200, r.get_data(as_text=True)
            r = client.put(f"/api/workflows/{wid}", json={"status": "completed"}, headers=h)
            assert r.status_code == 200, r.get_data(as_text=True)
            self.lifecycle_api_statements = len(stmts) if stmts is not None else 0
            assert run_due_jobs(self.app, limit=1) == 1

        one()  # warm-up
        before = self.receiver.stats()["count"]
        with counting(self.app) as stmts:
            one(stmts)
        assert self.receiver.stats()["count"] == before + 1, "the end action did not reach the receiver"
        self.lifecycle_sql = stmts
        return len(stmts)

    def one_begin_per_write(self) -> bool:
        """SQLite: each write transaction of the lifecycle (three API calls, the claim and the
        record of the delivery) begins once, and nothing opens a savepoint."""
        first = [s.split(None, 1)[0].upper() for s in self.lifecycle_sql]
        return first.count("BEGIN") == 5 and "SAVEPOINT" not in first

    def lifecycle_breakdown(self) -> str:
        control = sum(1 for s in self.lifecycle_sql if s.split(None, 1)[0].upper() in ("BEGIN", "SAVEPOINT", "RELEASE"))
        api = self.lifecycle_api_statements
        return (
            f"{len(self.lifecycle_sql)} (3 API calls {api}, delivery {len(self.lifecycle_sql) - api}; "
            f"{control} of them BEGIN/SAVEPOINT/RELEASE)"
        )

    def lifecycles(self) -> None:
        n_stmts = self.lifecycle_statements()
        results = {}
        server = Gunicorn("app:app", self.env(WFAPP_DISPATCHER_ENABLED="true"), probe_path="/api/openapi.json")
        try:
            for clients in (1, CLIENTS):
                results[clients] = self.timed_lifecycles(server.url, clients, self.mode.wrk_s, "bench_user_3")
            self.peak_rss.append(server.peak_rss_mb())
        finally:
            server.close()
        rate1, r1, d1 = results[1]
        rate8, r8, d8 = results[CLIENTS]
        self.wfapp_lifecycles = (rate8, r8)
        fail = r1["lifecycle_failures"] + r8["lifecycle_failures"] + r1["errors"] + r8["errors"]
        self.table.add(
            "7",
            "whole lifecycles/s (start, merge 2 fields, complete, end action delivered)",
            f"1 client {rate1:.0f}/s; {CLIENTS} clients {rate8:.0f}/s ({d1} + {d8} delivered"
            + (f", {fail} failed requests" if fail else "")
            + ")",
            f"≥ 100/s with {CLIENTS} clients",
            verdict(rate8 >= 100 and not fail),
        )
        self.table.add(
            "7",
            "SQL statements of one lifecycle (3 API calls + delivery)",
            self.lifecycle_breakdown(),
            "≤ 16" if self.is_pg else "one BEGIN per write, no SAVEPOINT",
            verdict(n_stmts <= 16 if self.is_pg else self.one_begin_per_write()),
        )

    def drain(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the outbox has nothing pending or running, then the receiver's stats."""
        from wfapp.extensions import db
        from wfapp.models import Job

        deadline = time.time() + timeout
        with self.app.app_context():
            while time.time() < deadline:
                open_jobs = db.session.scalar(
                    sa.select(sa.func.count()).select_from(Job).where(Job.status.in_(["pending", "running"]))
                )
                db.session.rollback()
                if not open_jobs:
                    break
                time.sleep(0.2)
        return self.receiver.stats()

    def start_workers(self, n: int) -> list[subprocess.Popen]:
        """n `flask --app app worker` processes (the outbox dispatcher on its own)."""
        procs = []
        for _ in range(n):
            logfile = self.tmp / f"{self.name}-worker-{len(self.worker_logs)}.log"
            self.worker_logs.append(logfile)
            with logfile.open("w") as out:
                procs.append(
                    subprocess.Popen(
                        [str(VENV_BIN / "flask"), "--app", "app", "worker"],
                        cwd=ROOT,
                        env=self.env(),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        return procs

    def worker_log_tail(self, n: int = 8) -> str:
        """The last lines of the worker processes' logs that are not a job's success."""
        lines = []
        for path in self.worker_logs[-3:]:
            kept = [line for line in path.read_text().splitlines() if '"outcome": "succeeded"' not in line]
            lines += [f"{path.name}: {line[:300]}" for line in kept[-n:]]
        return "\n".join(lines)

    # -- 8
    def peer_lifecycles(self) -> None:
        """The same lifecycles, same clients and same receiver, on django-viewflow 2.4."""
        import peer_bench

        bin_dir = peer_bench.ensure_venv(log)
        database = self.tmp / "peer.sqlite"
        environ = peer_bench.env(database, self.receiver.url + "/end-action")
        peer_bench.migrate(bin_dir, environ)
        server = Gunicorn(
            "loanpeer.wsgi", environ, probe_path="/api/applications", bin_dir=bin_dir, cwd=peer_bench.PROJECT
        )
        try:
            env = {"BENCH_TOKEN": peer_bench.TOKEN, "BENCH_USER": "bench_user_4", "BENCH_RUN": uuid.uuid4().hex[:8]}
            run_wrk("lifecycle_peer.lua", server.url, CLIENTS, CLIENTS, self.mode.warm_s, env)
            time.sleep(0.5)  # the warm-up's last requests answered
            self.receiver.stats(reset=True)
            env["BENCH_RUN"] = uuid.uuid4().hex[:8]
            t0 = time.time()
            r = run_wrk("lifecycle_peer.lua", server.url, CLIENTS, CLIENTS, self.mode.wrk_s, env)
            time.sleep(0.5)
            stats = self.receiver.stats()  # delivered inside the completing request: nothing left to wait for
        finally:
            server.close()
        delivered = stats["count"]
        rate = delivered / (stats["last"] - t0) if delivered else 0.0
        done, tasks = peer_bench.engine_rows(database)
        fail = r["lifecycle_failures"] + r["errors"]
        self.table.add(
            "8",
            f"peer: whole lifecycles/s on {peer_bench.versions(bin_dir)}, {CLIENTS} clients",
            f"{rate:.0f}/s, requests p50 {r['p50_us'] / 1000:.1f} / p95 {r['p95_us'] / 1000:.1f} ms "
            f"({delivered} delivered; viewflow's tables after warm-up and run: {done} processes done, {tasks} tasks"
            + (f"; {fail} failed requests" if fail else "")
            + ")",
            "",
            "",
        )
        if self.wfapp_lifecycles is None:
            return
        w_rate, w = self.wfapp_lifecycles
        self.table.add(
            "8",
            f"wfapp / peer: whole lifecycles/s, {CLIENTS} clients, same run",
            f"wfapp {w_rate:.0f}/s (p50 {w['p50_us'] / 1000:.1f} / p95 {w['p95_us'] / 1000:.1f} ms), "
            f"peer {rate:.0f}/s (p50 {r['p50_us'] / 1000:.1f} / p95 {r['p95_us'] / 1000:.1f} ms): "
            + (f"{w_rate / rate:.2f}×" if rate else "n/a"),
            "≥ 5× the peer",
            verdict(bool(rate) and w_rate / rate >= 5),
        )

    # -- 9
    def scale_out(self) -> None:
        """Lifecycles/s as processes are added on this machine: 1, 2 and 4 gunicorn workers with
        their embedded dispatchers, then 2 gunicorn workers with the dispatcher in 1 and in 3
        `flask worker` processes."""
        grid = Grid(
            f"Scale-out on {self.name}: whole lifecycles/s, {CLIENTS} clients, {self.mode.scale_s} s each",
            ("gunicorn workers", "end actions sent by", "lifecycles/s", "requests p50 / p95", "delivered"),
        )
        self.extra_tables.append(grid)
        runs = [(1, 0), (2, 0), (4, 0), (GUNICORN_WORKERS, 1), (GUNICORN_WORKERS, 3)]
        for web, workers in runs:
            sent_by = f"{workers} worker process{'es' if workers > 1 else ''}" if workers else "embedded dispatcher"
            try:
                rate, r, delivered = self.scale_run(web, workers)
                fail = r["lifecycle_failures"] + r["errors"]
                grid.rows.append(
                    (
                        str(web),
                        sent_by,
                        f"{rate:.0f}/s",
                        f"{r['p50_us'] / 1000:.1f} / {r['p95_us'] / 1000:.1f} ms",
                        f"{delivered}" + (f" ({fail} failed requests)" if fail else ""),
                    )
                )
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                grid.rows.append((str(web), sent_by, f"error: {type(exc).__name__}: {str(exc)[:80]}", "", ""))
        grid.notes.append(
            f"all on this machine ({os.cpu_count()} CPUs, shared with wrk, the receiver and the database); "
            "a lifecycle counts when its end action reaches the receiver"
        )

    def scale_run(self, web: int, workers: int) -> tuple[float, dict[str, Any], int]:
        procs = self.start_workers(workers)
        server = None
        try:
            server = Gunicorn(
                "app:app",
                self.env(WFAPP_DISPATCHER_ENABLED="false" if workers else "true"),
                probe_path="/api/openapi.json",
                workers=web,
            )
            t0 = time.time()
            rate, r, delivered = self.timed_lifecycles(server.url, CLIENTS, self.mode.scale_s, "bench_user_5")
        finally:
            if server is not None:
                server.close()
            for p in procs:
                stop(p)
        log(
            f"{self.name}: scale-out, {web} web, {workers} worker processes: {delivered} delivered, run {time.time() - t0:.1f}s"
        )
        return rate, r, delivered

    def timed_lifecycles(self, url: str, clients: int, seconds: int, user: str) -> tuple[float, dict[str, Any], int]:
        """wrk's lifecycles against wfapp at url; (lifecycles/s, wrk's figures, delivered), a
        lifecycle counted when its end action reaches the receiver (the outbox drained first)."""
        self.receiver.stats(reset=True)
        env = {
            "BENCH_TOKEN": self.base.token,
            "BENCH_TEMPLATE": seed.TEMPLATE,
            "BENCH_USER": user,
            "BENCH_RUN": uuid.uuid4().hex[:8],
        }
        t0 = time.time()
        r = run_wrk("lifecycle.lua", url, clients, clients, seconds, env)
        stats = self.drain()
        delivered = stats["count"]
        return (delivered / (stats["last"] - t0) if delivered else 0.0), r, delivered

    # -- 5
    def dispatcher(self) -> None:
        probe = make_app(self.db_url)
        if "worker" not in probe.cli.commands:
            self.table.add("5", "dispatcher: end actions delivered/s", "n/a (not built)", "", "n/a")
            return
        rates = {}
        for workers in (1, 3):
            n = self.mode.dispatch_jobs
            self.receiver.stats(reset=True)
            seed.completed_with_jobs(
                self.app, self.base, self.receiver.url + "/end-action", n, f"dispatch-{workers}-{uuid.uuid4().hex[:6]}"
            )
            procs = self.start_workers(workers)
            try:
                deadline = time.time() + 120
                stats = self.receiver.stats()
                while stats["count"] < n and time.time() < deadline:
                    time.sleep(0.2)
                    stats = self.receiver.stats()
            finally:
                for p in procs:
                    stop(p)
            if stats["count"] < 2:
                rates[workers] = None
                log(
                    f"{self.name}: {workers} worker processes delivered {stats['count']}; their logs:\n{self.worker_log_tail()}"
                )
            else:
                rates[workers] = ((stats["count"] - 1) / (stats["last"] - stats["first"]), stats["count"], n)
        parts = []
        for w, v in rates.items():
            parts.append(
                f"{w} worker{'s' if w > 1 else ''}: "
                + ("nothing delivered" if v is None else f"{v[0]:.0f}/s ({v[1]} of {v[2]})")
            )
        self.table.add(
            "5",
            "dispatcher: end actions delivered/s to a loopback receiver (worker processes)",
            "; ".join(parts),
            "",
            "",
        )

    # -- 2 and 3
    def list_cost(self) -> None:
        from wfapp.extensions import db
        from wfapp.models import Workflow
        from wfapp.services.monitor import monitor_token
        from wfapp.services.workflow_queries import encode_cursor

        seed.delete_workflows(self.app)
        sizes = self.mode.list_sizes_pg if self.is_pg else self.mode.list_sizes_sqlite
        h = {"Authorization": f"Bearer {self.base.token}"}
        client = self.app.test_client()
        has_monitor = "workflows.index" in self.app.view_functions
        staff = staff_client(self.app) if has_monitor else None
        tid = self.base.templates[seed.TEMPLATE]
        n = self.mode.list_requests
        series: dict[str, list[tuple[int, Timing]]] = {}
        poll: Timing | None = None
        for size in sizes:
            t0 = time.time()
            seed.seed_workflows(self.app, self.base, size)
            log(f"{self.name}: seeded {size} workflows in {time.time() - t0:.1f}s")
            with self.app.app_context():
                where = sa.and_(Workflow.status == "active", Workflow.template_id == tid)
                count = db.session.scalar(sa.select(sa.func.count()).select_from(Workflow).where(where))
                deep_at, deep_id = db.session.execute(
                    sa.select(Workflow.started_at, Workflow.id)
                    .where(where)
                    .order_by(Workflow.started_at.desc(), Workflow.id.desc())
                    .offset(int(count * 0.9))
                    .limit(1)
                ).one()
                cursor = encode_cursor(deep_at, deep_id)
                token = monitor_token(db.session)
                db.session.rollback()
            deep_q = f"status=active&template={seed.TEMPLATE}&cursor={cursor}"
            cases = {
                "GET /api/workflows, first page": (client, "/api/workflows", h),
                "GET /api/workflows, filtered page 90% deep": (client, f"/api/workflows?{deep_q}", h),
            }
            if has_monitor:
                cases["monitor page, first page"] = (staff, "/workflows/", {})
                cases["monitor page, filtered page 90% deep"] = (staff, f"/workflows/?{deep_q}", {})
            for label, (c, path, headers) in cases.items():
                series.setdefault(label, []).append((size, time_get(self.app, c, path, n, headers)))
            if has_monitor and "workflows.monitor_live" in self.app.view_functions:
                poll = time_get(
                    self.app,
                    staff,
                    f"/workflows/live?{urlencode({'since': token})}",
                    n * 4,
                    {"HX-Request": "true"},
                    expect=(204,),
                )
        for label, points in series.items():
            first, last = points[0][1], points[-1][1]
            ratio = last.p50 / first.p50 if first.p50 else float("inf")
            text = "; ".join(f"{s // 1000}k: {t.p50:.1f}/{t.p95:.1f} ms" for s, t in points)
            stmts = sorted({t.statements for _s, t in points})
            text += f"; ratio {ratio:.2f}; {'/'.join(map(str, stmts))} statements"
            ok = ratio <= 1.5 and last.p95 < 100
            self.table.add("2", f"list p50/p95: {label}", text, "ratio ≤ 1.5, < 100 ms", verdict(ok))
        if not has_monitor:
            self.table.add("2", "list p50/p95: monitor page", "n/a (not built)", "ratio ≤ 1.5, < 100 ms", "n/a")
        if poll is None:
            self.table.add("3", "unchanged live poll", "n/a (not built)", "1 statement, < 2 ms", "n/a")
        else:
            ok = poll.statements == 1 and poll.p50 < 2
            self.table.add(
                "3",
                f"unchanged live poll (204) at {sizes[-1] // 1000}k workflows",
                f"p50 {poll.p50:.2f} / p95 {poll.p95:.2f} ms, {poll.statements} statement(s)",
                "1 statement, < 2 ms",
                verdict(ok),
            )


# --------------------------------------------------------------------------- PostgreSQL


def ensure_postgres(url: str) -> str | None:
    """None when the database is reachable (created if missing), else the reason it is not."""
    engine_url = "postgresql+psycopg://" + url.split("://", 1)[1]
    name = sa.engine.make_url(engine_url).database

    def reachable() -> str | None:
        try:
            eng = sa.create_engine(engine_url)
            with eng.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            eng.dispose()
            return None
        except Exception as exc:
            return str(exc).splitlines()[0]

    why = reachable()
    if why is None:
        return None
    if os.geteuid() == 0 and shutil.which("pg_ctlcluster"):
        subprocess.run(
            "pg_lsclusters -h | awk '{print $1, $2}' | while read v c; do pg_ctlcluster $v $c start; done",
            shell=True,
            capture_output=True,
        )
        user = sa.engine.make_url(engine_url).username
        subprocess.run(["su", "postgres", "-c", f"createdb -O {user} {name}"], capture_output=True)
        why = reachable()
    return why


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return f"{os.cpu_count()} CPUs ({cpu}), {mem / 1024 / 1024:.0f} GiB RAM, Python {sys.version.split()[0]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, 100k workflows at most (< 4 minutes)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=os.environ.get("WFAPP_BENCH_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print(
            "wrk is not installed: the HTTP load comes from it. Install it with `apt-get install -y wrk` "
            "(Debian/Ubuntu) or `brew install wrk`, then run this again.",
            file=sys.stderr,
        )
        return 2
    os.chdir(ROOT)
    mode = Mode.make(args.quick)
    started = time.time()
    tables: list[Table | Grid] = []
    with tempfile.TemporaryDirectory(prefix="wfapp-bench-") as tmp:
        tmpdir = Path(tmp)
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{tmpdir / 'bench.sqlite'}"
            tables.append(Bench("SQLite", url, mode, tmpdir).run())
        if args.only in (None, "postgresql"):
            why = ensure_postgres(args.pg_url)
            if why:
                t = Table("PostgreSQL")
                t.add("-", "every row", f"n/a: PostgreSQL is not reachable at {args.pg_url.split('@')[-1]} ({why})")
                tables.append(t)
            else:
                bench = Bench("PostgreSQL", args.pg_url, mode, tmpdir)
                tables.append(bench.run())
                tables += bench.extra_tables
    print(
        f"wfapp benchmarks, {'quick' if mode.quick else 'full'} run: {machine()}; "
        f"gunicorn {GUNICORN_WORKERS} sync workers, {CLIENTS} concurrent clients (wrk) on loopback; "
        f"took {time.time() - started:.0f}s\n"
    )
    for t in tables:
        print(t.render())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
