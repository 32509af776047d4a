"""flask --app app seed-demo | quickstart"""

import os
import secrets
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from wfapp.demo import seed_demo
from wfapp.extensions import db
from wfapp.models import StaffUser
from wfapp.services.outbox import OutboxSettings
from wfapp.services.staff import create_staff_user
from wfapp.services.tokens import create_token

cli = AppGroup(__name__)


@cli.command("seed-demo")
def seed_demo_command() -> None:
    """Load the demo workflow templates, user types, end users and workflows (once)."""
    if seed_demo(db.session, OutboxSettings.from_config(current_app.config)):
        db.session.commit()
        click.echo("demo data loaded")
    else:
        click.echo("demo data already present")


@cli.command("quickstart")
def quickstart_command() -> None:
    """First run: load the demo data, create an admin and an API token, and keep the login
    in the instance folder; every run prints it."""
    path = Path(current_app.instance_path) / "demo-login.txt"
    if not path.exists() and db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 0:
        seed_demo(db.session, OutboxSettings.from_config(current_app.config))
        password = secrets.token_urlsafe(12)
        create_staff_user(db.session, "admin", password, "admin", current_app.config["PASSWORD_HASH_METHOD"])
        _t, token = create_token(db.session, "demo-integration", "integration")
        db.session.commit()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                f"dashboard:  http://127.0.0.1:5000/  user admin  password {password}\n"
                f"API token (integration role):  {token}\n"
            )
    if path.exists():
        click.echo("\n" + path.read_text())
    else:
        click.echo("staff users exist already: create another with `flask --app app create-user NAME --role admin`")
