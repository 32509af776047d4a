from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class _SQLAlchemy(SQLAlchemy):
    if TYPE_CHECKING:
        # db.session is a scoped_session, which hands every call to the request's Session:
        # services are typed for that Session (so.Session).
        session: so.Session  # type: ignore[assignment]


db = _SQLAlchemy(model_class=Base)

# The models' base class. At run time it is db.Model, the class Flask-SQLAlchemy makes from Base
# (the same metadata and registry, which Alembic reads through db.metadata, plus its repr and bind
# key); the type checker sees Base, whose Mapped[...] annotations it understands.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
htmx = Htmx()
