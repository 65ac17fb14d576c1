"""Sign-in and sign-out, language choice, and the role checks every other blueprint uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email

from consentcam.models import User
from consentcam.security import safe_next
from consentcam.services import users
from consentcam.web import LANGUAGES, db, login_manager

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    # The id carries the session version, so a sign-out everywhere ends old sessions.
    uid, _, version = user_id.partition(":")
    user = db().get(User, int(uid)) if uid.isdigit() else None
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return user


def owner_required(fn: F) -> F:
    """Only the owner may change consent, permissions, users and settings."""

    @wraps(fn)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_owner:
            abort(403)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Stay signed in on this device")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(db(), form.email.data or "", form.password.data or "")
        if user is None:
            flash(_("That e-mail and password do not match an account."), "error")
        else:
            lang = session.get("lang")
            # A fresh session at sign-in: nothing from before survives but the language.
            session.clear()
            if lang:
                session["lang"] = lang
            login_user(user, remember=bool(form.remember.data))
            return redirect(safe_next(request.args.get("next"), url_for("dashboard.index")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere() -> Any:
    """Sign out here and on every other device (also ends remember-me cookies)."""
    user = db().get(User, current_user.id)
    if user is not None:
        users.sign_out_everywhere(db(), user)
        db().commit()
    logout_user()
    session.clear()
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
def language(code: str) -> Any:
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.form.get("next"), url_for("dashboard.index")))
