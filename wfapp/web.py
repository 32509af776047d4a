"""What every dashboard response shares: security headers, error pages, HTMX helpers."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
