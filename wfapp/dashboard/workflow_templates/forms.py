"""Small forms of the workflow template pages (the editor is its own package: editor/)."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class NameForm(FlaskForm):
    """Clone: the new workflow template's name."""

    name = StringField("New name", validators=[DataRequired(), Length(max=100)])
