"""gunicorn settings for wfapp:  gunicorn -c gunicorn.conf.py app:app

Environment (all optional):
  WFAPP_BIND                  address to listen on (default 127.0.0.1:8000; a reverse proxy in front)
  WEB_CONCURRENCY             worker processes (default 2 x CPUs + 1, at most 8)
  GUNICORN_THREADS            threads per worker (default 1: sync workers; >1: gthread workers)
  GUNICORN_TIMEOUT            seconds before a stuck worker is restarted (default 30)
  PROMETHEUS_MULTIPROC_DIR    where the workers' metrics meet (default: a temporary folder, removed at exit);
                              emptied when gunicorn starts, so counters start from zero
Command-line options (--bind, --workers, ...) override these.
"""

import glob
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("WFAPP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or min(multiprocessing.cpu_count() * 2 + 1, 8))
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
# wfapp logs one JSON line per request itself (request id, actor, workflow, duration).
accesslog = None
errorlog = "-"
loglevel = "info"
# The app is imported by each worker after the fork (no preload): every worker gets its own
# database connections and, when enabled, its own embedded dispatcher thread.
preload_app = False

# prometheus_client's multiprocess mode: each worker writes its counters to files in this folder
# and /metrics sums them. It must be in the environment before a worker imports the app.
_metrics_dir_is_ours = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    tempfile.gettempdir(), f"wfapp-prometheus-{os.getpid()}"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    os.makedirs(_metrics_dir, exist_ok=True)
    # Files left by an earlier run would add its counts to this one's.
    for path in glob.glob(os.path.join(_metrics_dir, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
