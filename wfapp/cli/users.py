"""flask --app app create-user | create-token | list-tokens | revoke-token ID"""

import click
from flask import current_app
from flask.cli import AppGroup

from wfapp.errors import Problem
from wfapp.extensions import db
from wfapp.services.staff import create_staff_user
from wfapp.services.tokens import create_api_token, list_api_tokens, revoke_api_token

cli = AppGroup(__name__)


@cli.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="admin", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a staff user who can log into the dashboard."""
    try:
        create_staff_user(db.session, username, password, role, current_app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
    except Problem as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"created {role} {username}")


@cli.command("create-token")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "operator", "viewer", "integration"]),
    default="integration",
    show_default=True,
)
def create_token_command(name: str, role: str) -> None:
    """Create an API token; the token is printed alone on the last line."""
    _token, secret = create_api_token(db.session, name, role, "cli")
    db.session.commit()
    click.echo(f"created {role} token {name!r}; it is shown only once:")
    click.echo(secret)


@cli.command("list-tokens")
@click.option("--all", "show_all", is_flag=True, help="include revoked tokens")
def list_tokens_command(show_all: bool) -> None:
    """List API tokens (never their secrets)."""
    tokens = list_api_tokens(db.session, include_revoked=show_all)
    click.echo(f"{'ID':>4}  {'NAME':<30} {'ROLE':<12} {'CREATED':<20} {'LAST USED':<20} REVOKED")
    for t in tokens:
        click.echo(
            f"{t.id:>4}  {t.name[:30]:<30} {str(t.role):<12} {_when(t.created_at):<20} "
            f"{_when(t.last_used_at):<20} {_when(t.revoked_at)}"
        )


@cli.command("revoke-token")
@click.argument("token_id")
def revoke_token_command(token_id: str) -> None:
    """Revoke an API token by id: the next request with it is refused."""
    try:
        token, changed = revoke_api_token(db.session, token_id, "cli")
    except Problem as exc:
        raise click.ClickException(exc.detail) from None
    db.session.commit()
    click.echo(
        f"revoked token {token.id} {token.name!r}"
        if changed
        else f"token {token.id} {token.name!r} was revoked already"
    )


def _when(ts) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if ts else "-"
