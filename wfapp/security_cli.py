"""flask --app app list-tokens | revoke-token ID"""

import click
from flask import Flask

from wfapp.extensions import db


def init_app(app: Flask) -> None:
    @app.cli.command("list-tokens")
    @click.option("--all", "show_all", is_flag=True, help="include revoked tokens")
    def list_tokens_command(show_all: bool) -> None:
        """List API tokens (never their secrets)."""
        from wfapp.services.tokens import list_api_tokens

        tokens = list_api_tokens(db.session, include_revoked=show_all)
        click.echo(f"{'ID':>4}  {'NAME':<30} {'ROLE':<12} {'CREATED':<20} {'LAST USED':<20} REVOKED")
        for t in tokens:
            click.echo(
                f"{t.id:>4}  {t.name[:30]:<30} {str(t.role):<12} {_when(t.created_at):<20} "
                f"{_when(t.last_used_at):<20} {_when(t.revoked_at)}"
            )

    @app.cli.command("revoke-token")
    @click.argument("token_id")
    def revoke_token_command(token_id: str) -> None:
        """Revoke an API token by id: the next request with it is refused."""
        from wfapp.services.errors import Problem
        from wfapp.services.tokens import revoke_api_token

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
