"""flask --app app backup PATH | restore PATH | purge [--dry-run] [--older-than-days N] [--template NAME]"""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from wfapp.extensions import db
from wfapp.ops.backup import BackupError, backup, check_backup, live_database_path, restore
from wfapp.ops.retention import RetentionError, purge

cli = AppGroup(__name__)


@cli.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
def backup_command(path: Path) -> None:
    """Copy the SQLite database to PATH (a file, or a folder to put a dated file in) while the
    app runs. PostgreSQL: use pg_dump."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        info = backup(app, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backup written to {info.path}: {info.size} bytes, {info.workflows} workflows, "
        f"migration revision {info.revision or 'none'}, integrity ok"
    )


@cli.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--upgrade", is_flag=True, help="accept a backup at an older migration revision and migrate it")
@click.option("--no-keep-current", is_flag=True, help="do not keep a copy of the database being replaced")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def restore_command(path: Path, upgrade: bool, no_keep_current: bool, yes: bool) -> None:
    """Replace the SQLite database with the backup at PATH, after checking it (integrity,
    migration revision). Stop the app and the workers first. PostgreSQL: use pg_restore."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        info = check_backup(app, path, upgrade=upgrade)
        live = live_database_path(app)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{info.path}: integrity ok, migration revision {info.revision}, {info.workflows} workflows")
    if not yes:
        click.confirm(f"replace {live} with it?", abort=True)
    try:
        info, kept = restore(app, path, upgrade=upgrade, keep_current=not no_keep_current)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if kept:
        click.echo(f"the previous database is kept at {kept}")
    click.echo(f"restored {info.path} into {live}: integrity ok")


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="only count what would be purged")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="age for this run (default: RETENTION_DAYS_BY_TEMPLATE, then RETENTION_DAYS)",
)
@click.option("--template", default=None, help="only this workflow template (by name)")
def purge_command(dry_run: bool, older_than_days: int | None, template: str | None) -> None:
    """Delete completed, failed and cancelled workflows (with their events and jobs) unchanged
    for longer than the retention age, and public feed events older than EVENTS_RETENTION_DAYS,
    in small batches."""
    try:
        report = purge(
            db.session,
            current_app.config,
            dry_run=dry_run,
            older_than_days=older_than_days,
            template=template,
            actor="cli",
        )
    except RetentionError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "would be purged (dry run)" if dry_run else "purged"
    if report.events_cutoff is not None:
        click.echo(
            f"feed events: {report.events} older than {report.events_days} days "
            f"(before {report.events_cutoff.isoformat(timespec='seconds')}) {verb}"
        )
    if not report.rules:
        click.echo(
            "no retention age applies to workflows (set RETENTION_DAYS, RETENTION_DAYS_BY_TEMPLATE or "
            "--older-than-days): nothing to purge"
        )
        return
    for rule in report.rules:
        click.echo(
            f"{rule.template_name}: {report.counts.get(rule.template_name, 0)} workflows "
            f"unchanged for more than {rule.days} days (before {rule.cutoff.isoformat(timespec='seconds')})"
        )
    click.echo(f"total: {report.total} workflows {verb}")
