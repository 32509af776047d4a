"""The HTMX dashboard: one blueprint per page group, all on the services the API uses."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
