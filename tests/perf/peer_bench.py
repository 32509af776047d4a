"""The peer of the lifecycle comparison: django-viewflow 2.4 running tests/perf/peer/ (a Django
project of ours with a loan-application flow and a small JSON API over it).

It is never a dependency of wfapp: it lives in its own virtual environment, created here on the
first run (WFAPP_BENCH_PEER_VENV, default ~/.cache/wfapp-bench/peer-venv, outside the work tree) and reused while its
requirements are unchanged. The peer gets the same gunicorn release as wfapp's environment."""

from __future__ import annotations

import importlib.metadata
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "peer"
VENV = Path(os.environ.get("WFAPP_BENCH_PEER_VENV") or Path.home() / ".cache" / "wfapp-bench" / "peer-venv")
TOKEN = "peer-bench-token"


def requirements() -> list[str]:
    return ["django-viewflow==2.4.*", "Django>=5.1,<6", f"gunicorn=={importlib.metadata.version('gunicorn')}"]


def ensure_venv(log) -> Path:
    """The peer's bin/ folder, its virtual environment created or brought up to date first."""
    bin_dir = VENV / "bin"
    stamp = VENV / ".bench-requirements"
    wanted = "\n".join(requirements()) + "\n"
    if (bin_dir / "gunicorn").exists() and stamp.exists() and stamp.read_text() == wanted:
        return bin_dir
    log(f"peer: installing {' '.join(requirements())} into {VENV}")
    if not (bin_dir / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements()],
        check=True,
    )
    stamp.write_text(wanted)
    return bin_dir


def versions(bin_dir: Path) -> str:
    out = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('django-viewflow'), m.version('Django'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"django-viewflow {out[0]}, Django {out[1]}"


def env(database: Path, end_action_url: str) -> dict[str, str]:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="loanpeer.settings",
        PYTHONPATH=str(PROJECT),
        PEER_SQLITE_PATH=str(database),
        PEER_END_ACTION_URL=end_action_url,
        PEER_API_TOKEN=TOKEN,
        PYTHONUNBUFFERED="1",
    )


def migrate(bin_dir: Path, environ: dict[str, str]) -> None:
    """A fresh database with viewflow's tables (its own migrations and the project's)."""
    for suffix in ("", "-wal", "-shm"):
        Path(environ["PEER_SQLITE_PATH"] + suffix).unlink(missing_ok=True)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "django", "migrate", "--verbosity", "0"],
        cwd=PROJECT,
        env=environ,
        check=True,
    )


def engine_rows(database: Path) -> tuple[int, int]:
    """(finished processes, task rows) in viewflow's tables: the engine really ran."""
    with sqlite3.connect(database) as conn:
        done = conn.execute("SELECT count(*) FROM viewflow_process WHERE status = 'DONE'").fetchone()[0]
        tasks = conn.execute("SELECT count(*) FROM viewflow_task").fetchone()[0]
    return done, tasks
