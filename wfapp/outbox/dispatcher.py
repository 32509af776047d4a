"""Sends the outbox's jobs."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
