from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from wfapp.auth import SESSION_KEY, _local_path, bp
from wfapp.extensions import db
from wfapp.services.staff import (
    LOGIN_FAILED,
    LOGIN_LOCKED,
    LoginLimits,
    authenticate,
    end_staff_session,
    login_retry_after,
    record_staff_action,
    start_staff_session,
)

# One answer for an unknown username and a wrong password.
WRONG_LOGIN = "Wrong username or password."
LOCKED_OUT = "Too many failed sign-ins. Try again in a few minutes."


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])


def login_limits() -> LoginLimits:
    cfg = current_app.config
    return LoginLimits(
        per_account=int(cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"]),
        per_address=int(cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
        window=timedelta(minutes=float(cfg["LOGIN_LOCKOUT_MINUTES"])),
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _local_path(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("dashboard.home"))
    form = LoginForm()
    status = 200
    headers = {}
    if form.validate_on_submit():
        remote_addr = request.remote_addr or ""
        username = (form.username.data or "").strip()[:200]
        wait = login_retry_after(db.session, username, remote_addr, login_limits())
        if wait:
            # Locked out: the password is not even looked at, and the attempt does not extend the lockout.
            record_staff_action(db.session, username, LOGIN_LOCKED, "staff_user", remote_addr=remote_addr)
            db.session.commit()
            form.password.errors.append(LOCKED_OUT)
            status, headers = 429, {"Retry-After": str(wait)}
        else:
            user = authenticate(db.session, username, form.password.data, current_app.config["PASSWORD_HASH_METHOD"])
            if user is not None:
                # A fresh session: nothing of the anonymous one survives (no fixation), and a
                # server-side record that logout and idle expiry end.
                session.clear()
                sid = start_staff_session(db.session, user, remote_addr)
                login_user(user)
                session[SESSION_KEY] = sid
                record_staff_action(
                    db.session, f"staff:{user.username}", "login", "staff_user", user.id, remote_addr=remote_addr
                )
                db.session.commit()
                return redirect(next_url or url_for("dashboard.home"), 303)
            record_staff_action(db.session, username, LOGIN_FAILED, "staff_user", remote_addr=remote_addr)
            db.session.commit()
            form.password.errors.append(WRONG_LOGIN)
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, next_url=next_url), status, headers


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        record_staff_action(
            db.session,
            f"staff:{current_user.username}",
            "logout",
            "staff_user",
            current_user.id,
            remote_addr=request.remote_addr or "",
        )
        end_staff_session(db.session, session.get(SESSION_KEY))
        db.session.commit()
        logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), 303)
