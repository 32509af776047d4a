"""flask --app app worker [--concurrency N] | retry-job ID"""

import click
from flask import current_app
from flask.cli import AppGroup

from wfapp.db_setup import begin_write
from wfapp.errors import Problem
from wfapp.extensions import db
from wfapp.outbox import run
from wfapp.services.outbox_actions import retry_job

cli = AppGroup(__name__)


@cli.command("worker")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="threads in this process, each claiming and sending one job at a time",
)
def worker_command(concurrency: int) -> None:
    """Send end actions and dependency calls from the outbox until stopped (SIGTERM/SIGINT).
    Run any number of workers, on any machines, sharing one PostgreSQL database."""
    stop = run.stop_on_signals()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    threads = run.start_workers(app, concurrency, stop)
    database = app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1]
    click.echo(f"worker started: {concurrency} thread(s), database {database}")
    run.wait_for_workers(stop, threads)
    click.echo("worker stopped")


@cli.command("retry-job")
@click.argument("job_id", type=int)
def retry_job_command(job_id: int) -> None:
    """Re-arm a dead job (same Idempotency-Key, a fresh budget of attempts)."""
    try:
        begin_write(db.session)
        job = retry_job(db.session, job_id, "cli")
        db.session.commit()
    except Problem as exc:
        db.session.rollback()
        raise click.ClickException(exc.detail) from None
    click.echo(f"job {job.id} is pending again (attempts reset, key {job.idempotency_key})")
