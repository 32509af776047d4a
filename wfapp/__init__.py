"""wfapp: LLM-guided data-collection workflows."""

import os
from pathlib import Path

from flask import Flask

from wfapp import api, auth, cli, dashboard, db_setup, ops, web
from wfapp.api import errors as api_errors
from wfapp.config import Defaults, finish_config
from wfapp.extensions import csrf, db, htmx, login_manager, migrate
from wfapp.outbox import run
from wfapp.services import public_events

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("WFAPP_INSTANCE_PATH") or None
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("WFAPP")
    if test_config:
        app.config.from_mapping(test_config)
    finish_config(app)
    # Field order is the order of questions: never sort the keys of JSON we send.
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the DefaultJSONProvider

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    htmx.init_app(app)
    db_setup.init_app(app)
    public_events.configure(app.config["JOB_MAX_ATTEMPTS"])

    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    api_errors.register(app)
    web.init_app(app)
    auth.init_app(app)
    dashboard.init_app(app)
    cli.register(app)
    run.init_app(app)

    ops.init_app(app)
    return app
