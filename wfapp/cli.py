"""flask --app app create-user | create-token | seed-demo"""

import click
from flask import Flask

from wfapp.extensions import db


def init_app(app: Flask) -> None:
    init_quickstart(app)
    from wfapp import security_cli

    security_cli.init_app(app)  # noqa: E702

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="admin", show_default=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    def create_user(username: str, role: str, password: str) -> None:
        """Create a staff user who can log into the dashboard."""
        from wfapp.services.errors import Problem
        from wfapp.services.staff import create_staff_user

        try:
            create_staff_user(db.session, username, password, role, app.config["PASSWORD_HASH_METHOD"])
            db.session.commit()
        except Problem as exc:
            raise click.ClickException(exc.detail) from None
        click.echo(f"created {role} {username}")

    @app.cli.command("create-token")
    @click.argument("name")
    @click.option(
        "--role",
        type=click.Choice(["admin", "operator", "viewer", "integration"]),
        default="integration",
        show_default=True,
    )
    def create_token_command(name: str, role: str) -> None:
        """Create an API token; the token is printed alone on the last line."""
        from wfapp.services.tokens import create_api_token

        _token, secret = create_api_token(db.session, name, role, "cli")
        db.session.commit()
        click.echo(f"created {role} token {name!r}; it is shown only once:")
        click.echo(secret)

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Load the demo workflow templates, user types, end users and workflows (once)."""
        from wfapp.demo import seed_demo

        if seed_demo(db.session):
            db.session.commit()
            click.echo("demo data loaded")
        else:
            click.echo("demo data already present")


def init_quickstart(app: Flask) -> None:
    @app.cli.command("quickstart")
    def quickstart_command() -> None:
        """First run: load the demo data, create an admin and an API token, and keep the login
        in the instance folder; every run prints it."""
        import os
        import secrets
        from pathlib import Path

        import sqlalchemy as sa

        from wfapp.api.auth import create_token
        from wfapp.demo import seed_demo
        from wfapp.models import StaffUser
        from wfapp.services.staff import create_staff_user

        path = Path(app.instance_path) / "demo-login.txt"
        if not path.exists() and db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 0:
            seed_demo(db.session)
            password = secrets.token_urlsafe(12)
            create_staff_user(db.session, "admin", password, "admin", app.config["PASSWORD_HASH_METHOD"])
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
