"""The `flask --app app …` commands, by topic: staff users and API tokens (users), the demo data
and first run (demo), backups and retention (ops), the outbox's workers and jobs (jobs).
Commands run in an app context; they read current_app.config and pass settings to services."""

from flask import Flask

from wfapp.cli import demo, jobs, ops, users


def register(app: Flask) -> None:
    for group in (users.cli, demo.cli, ops.cli, jobs.cli):
        for command in group.commands.values():
            app.cli.add_command(command)
