"""Sign-in and sign-out, language choice, and the role checks every other blueprint uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask_login import (
    current_user,
    login_required,
    login_user,
    logout_user,
    user_loaded_from_cookie,
)
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email

from consentcam.models import User
from consentcam.security import safe_next
from consentcam.services import users
from consentcam.web import LANGUAGES, db, login_manager, note_use, transaction
from consentcam.web.translate import gettext as _

if TYPE_CHECKING:
    from consentcam.db import Session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of a live server-side session; a signed-out or expired one loads nobody."""
    found = users.user_for_session(db(), user_id)
    if found is None:
        return None
    user, row = found
    g.user_session_id = row.id
    due = users.session_use_due(row)
    if due is not None:
        note_use(lambda s: users.save_seen(s, row.id, due))
    return user


@user_loaded_from_cookie.connect
def _rotate_remember_token(_app: Any, user: User) -> None:
    """A return through "stay signed in" gets a new token: an old copy of the cookie is dead."""
    row_id = g.pop("user_session_id", None)
    if row_id is None:
        return

    def rotate(s: Session) -> None:
        row = users.session_row(s, row_id)
        if row is not None:
            users.rotate_session(s, user, row)

    note_use(rotate)
    session["_user_id"] = user.get_id()
    session["_remember"] = "set"


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
            remember = bool(form.remember.data)
            with transaction() as s:
                users.start_session(
                    s, user, remember=remember, user_agent=request.headers.get("User-Agent")
                )
            login_user(user, remember=remember)
            return redirect(safe_next(request.args.get("next"), url_for("dashboard.index")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    # The session's row goes: this cookie, a saved copy of it and its remember-me all stop working.
    with transaction() as s:
        users.end_session(s, str(session.get("_user_id") or ""))
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere() -> Any:
    """Sign out here and on every other device (also ends remember-me cookies)."""
    with transaction() as s:
        user = users.user_by_id(s, current_user.id)
        if user is not None:
            users.sign_out_everywhere(s, user)
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


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired()])


@bp.route("/account")
@login_required
def account() -> Any:
    """The signed-in user's own page: change the password, see and end sessions one by one."""
    user = users.user_by_id(db(), current_user.id)
    rows = users.sessions_of(db(), user) if user is not None else []
    current_id = g.get("user_session_id")
    return render_template(
        "auth/account.html", form=PasswordForm(), sessions=rows, current_id=current_id
    )


@bp.post("/account/password")
@login_required
def password() -> Any:
    form = PasswordForm()
    try:
        with transaction() as s:
            user = users.user_by_id(s, current_user.id)
            if user is None or not form.validate_on_submit():
                flash(_("Fill in both passwords."), "error")
                return redirect(url_for("auth.account"))
            user.session_token = current_user.session_token
            users.change_password(s, user, form.current.data or "", form.new.data or "")
    except users.UserError as exc:
        flash(_password_error(str(exc)), "error")
        return redirect(url_for("auth.account"))
    flash(_("Your password is changed. Your other devices are signed out."), "info")
    return redirect(url_for("auth.account"))


def _password_error(message: str) -> str:
    if message.startswith("the current password"):
        return _("The current password is not right.")
    return _("The new password must have at least 12 characters.")


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int) -> Any:
    """Sign out one device (a lost phone) without touching the others."""
    with transaction() as s:
        user = users.user_by_id(s, current_user.id)
        if user is None or not users.end_session_by_id(s, user, session_id):
            abort(404)
    if session_id == g.get("user_session_id"):
        logout_user()
        session.clear()
        return redirect(url_for("auth.login"))
    flash(_("That device is signed out."), "info")
    return redirect(url_for("auth.account"))


def init_app(app: Any) -> None:
    """Sign-in failures are limited per address and per account (see security.limit_sign_in)."""
    from consentcam.security import limit_sign_in

    limit_sign_in(app, "auth.login")
