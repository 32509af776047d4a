"""Backups of a SQLite database while the app runs, and restoring one after checks.

`backup` copies the live database with SQLite's online backup API in one step: the copy is one
read transaction, i.e. a consistent snapshot holding every transaction committed before it
began; in WAL mode writers go on meanwhile. The copy is written beside the target, checked with
``PRAGMA integrity_check`` and only then renamed into place, as a single file (rollback journal).

`restore` refuses a file that is not a SQLite database, fails ``integrity_check``, is not a wfapp
database, or whose migration revision is not this code's head (an older one known to this code
is accepted with ``upgrade=True``, which migrates it after the copy). It keeps the current
database beside itself (``<name>.before-restore-<UTC time>``), then copies the backup into the
live file with the same online backup API (other connections see the restored content at their
next transaction; stop the app and the workers first all the same), and checks the result.

PostgreSQL: use pg_dump / pg_restore (README, "Operations").
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask

from wfapp.db_setup import private_file


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason."""


@dataclass
class BackupInfo:
    path: Path
    size: int
    workflows: int
    revision: str


def live_database_path(app: Flask) -> Path:
    from wfapp.extensions import db

    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"the database is {url.get_backend_name()}, not SQLite: back it up with pg_dump and "
            "restore it with pg_restore (see the README, 'Operations')"
        )
    if url.database in (None, "", ":memory:"):
        raise BackupError("the database is in memory: there is nothing to back up")
    return Path(url.database).resolve()


def _busy_timeout(app: Flask) -> float:
    return float(app.config.get("SQLITE_BUSY_TIMEOUT_S") or 30)


def integrity_problems(path: Path) -> list[str]:
    """[] when `PRAGMA integrity_check` says ok; its first problems otherwise."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return [f"not a readable SQLite database: {exc}"]
    return [] if rows == ["ok"] else rows


def _revisions(path: Path) -> list[str] | None:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
        if not has:
            return None
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))


def _count_workflows(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM workflows").fetchone()[0]
        except sqlite3.DatabaseError:
            return 0


def _copy(src_path: Path, dst_path: Path, timeout: float, *, single_file: bool) -> None:
    private_file(dst_path)  # a backup is as private as the database (0600)
    with (
        closing(sqlite3.connect(src_path, timeout=timeout)) as src,
        closing(sqlite3.connect(dst_path, timeout=timeout)) as dst,
    ):
        # pages=-1: the whole database in one step, i.e. within one read transaction of the source.
        src.backup(dst, pages=-1)
        if single_file:
            dst.execute("PRAGMA journal_mode=DELETE").fetchone()


def backup(app: Flask, target: Path) -> BackupInfo:
    source = live_database_path(app)
    target = Path(target)
    if target.is_dir():
        target = target / f"wfapp-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite"
    if target.exists():
        raise BackupError(f"{target} exists already; choose another name")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial, _busy_timeout(app), single_file=True)
        problems = integrity_problems(partial)
        if problems:
            raise BackupError("the copy failed its integrity check: " + "; ".join(problems))
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(target, target.stat().st_size, _count_workflows(target), ", ".join(_revisions(target) or []))


def check_backup(app: Flask, path: Path, *, upgrade: bool = False) -> BackupInfo:
    """Everything restore checks before it touches the live database."""
    from wfapp.ops.health import migration_heads

    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    problems = integrity_problems(path)
    if problems:
        raise BackupError(f"{path} failed its integrity check: " + "; ".join(problems))
    revisions = _revisions(path)
    if revisions is None:
        raise BackupError(f"{path} is not a wfapp database (it has no migration revision)")
    heads = sorted(migration_heads(app))
    if revisions != heads:
        known = _known_revisions(app)
        if not set(revisions) <= known:
            raise BackupError(
                f"{path} is at migration revision {', '.join(revisions)}, which this version of wfapp "
                f"does not know (it expects {', '.join(heads)}): restore it with the wfapp that made it"
            )
        if not upgrade:
            raise BackupError(
                f"{path} is at migration revision {', '.join(revisions)}, older than this code's "
                f"{', '.join(heads)}: restore it with --upgrade to migrate it after the copy"
            )
    return BackupInfo(path, path.stat().st_size, _count_workflows(path), ", ".join(revisions))


def _known_revisions(app: Flask) -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", app.extensions["migrate"].directory)
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def restore(
    app: Flask, path: Path, *, upgrade: bool = False, keep_current: bool = True
) -> tuple[BackupInfo, Path | None]:
    """Put the backup at `path` in place of the live database; returns what was restored and
    where the previous database was kept."""
    from wfapp.extensions import db

    info = check_backup(app, path, upgrade=upgrade)
    live = live_database_path(app)
    timeout = _busy_timeout(app)
    kept = None
    if keep_current and live.exists():
        kept = live.with_name(f"{live.name}.before-restore-{datetime.now(UTC):%Y%m%d-%H%M%S}")
        _copy(live, kept, timeout, single_file=True)
    with app.app_context():
        db.engine.dispose()  # no pooled connection of ours holds the old content
    private_file(live)
    with (
        closing(sqlite3.connect(info.path, timeout=timeout)) as src,
        closing(sqlite3.connect(live, timeout=timeout)) as dst,
    ):
        src.backup(dst, pages=-1)
        # The live database stays in WAL mode (docs/architecture.md, "Database settings that matter"), whatever the backup file's mode.
        dst.execute("PRAGMA journal_mode=WAL").fetchone()
    problems = integrity_problems(live)
    if problems:
        raise BackupError(
            "the restored database failed its integrity check: "
            + "; ".join(problems)
            + (f"; the previous one is kept at {kept}" if kept else "")
        )
    if upgrade:
        from flask_migrate import upgrade as migrate_upgrade

        with app.app_context():
            migrate_upgrade()
    return info, kept
