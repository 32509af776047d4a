"""Staff login (Flask-Login) and roles."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
