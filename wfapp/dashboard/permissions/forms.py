from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

USER_TYPE_ID = r"^[a-z0-9][a-z0-9_-]*$"


class UserTypeForm(FlaskForm):
    id = StringField(
        "Id",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(USER_TYPE_ID, message="lowercase letters, digits, '_' and '-', starting with a letter or digit"),
        ],
        description="What the integration sends, e.g. premium_users. Cannot be changed later.",
    )
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class RenameUserTypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
