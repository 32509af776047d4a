"""The migrations in wfapp/migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PG_URL
from flask_migrate import downgrade, upgrade

from wfapp import create_app
from wfapp.extensions import db


def _built_on(dialect: str):
    """alembic's include_object: leave out what the models build on another database only (an
    index declared with .ddl_if(dialect="postgresql"))."""

    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    return include


@pytest.fixture
def bare_app(tmp_path):
    if PG_URL:
        pytest.skip("runs on SQLite only: the PostgreSQL test database is shared by the other tests")
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "DISPATCHER_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SIGNING_SECRET": "x",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'mig.sqlite'}",
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_matches_the_models_and_downgrades(bare_app):
    with bare_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            opts = {"compare_type": True, "include_object": _built_on(conn.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        assert diff == []
        downgrade(revision="base")
        with db.engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars().all()
        assert set(names) <= {"alembic_version"}
