from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from wfapp.auth import _local_path, bp
from wfapp.extensions import db
from wfapp.services.staff import authenticate, record_staff_action


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _local_path(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("dashboard.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(db.session, form.username.data, form.password.data)
        if user is not None:
            session.clear()
            login_user(user)
            record_staff_action(db.session, f"staff:{user.username}", "login", "staff_user", user.id,
                                remote_addr=request.remote_addr or "")
            db.session.commit()
            return redirect(next_url or url_for("dashboard.home"), 303)
        record_staff_action(db.session, (form.username.data or "")[:200], "login_failed", "staff_user",
                            remote_addr=request.remote_addr or "")
        db.session.commit()
        form.password.errors.append("Wrong username or password.")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), 303)
