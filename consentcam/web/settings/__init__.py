"""Settings for the owner: user accounts, API tokens and the business's instance settings."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from consentcam import config as config_mod
from consentcam.services import people as people_service
from consentcam.services import settings as settings_service
from consentcam.services import users as users_service
from consentcam.services.settings import SettingsError
from consentcam.services.users import UserError
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.translate import gettext as _
from consentcam.web.words import error_text

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _user() -> Any:
    return current_user._get_current_object()


class InstanceForm(FlaskForm):
    """Only the CSRF token: every value is checked by the settings service."""


class UserForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email()])
    name = StringField("Name", validators=[Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired()])
    role = SelectField("Role")


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    # Choices are set in the view, in the reader's language.
    scope = SelectField("Access", default="write")
    days = SelectField("Valid for", default="90")


@bp.route("/", methods=["GET", "POST"])
@owner_required
def index() -> Any:
    rt = runtime()
    form = InstanceForm()
    values = {name: rt.settings.get(name) for name in settings_service.EDITABLE}
    amount, unit = _split_period(str(values.get("RETENTION") or "2y"))
    error: str | None = None
    error_field: str | None = None
    if request.method == "POST":
        raw = {
            name: request.form[name.lower()]
            for name in settings_service.EDITABLE
            if name.lower() in request.form
        }
        if "retention_amount" in request.form:
            amount = request.form.get("retention_amount", "").strip()
            unit = request.form.get("retention_unit", "y")
            raw["RETENTION"] = f"{amount}{unit if unit in ('y', 'm', 'd') else ''}"
        values.update(raw)
        if not form.validate_on_submit():
            error = _("The form has expired: reload the page and try again.")
        else:
            try:
                with transaction() as session:
                    changed = settings_service.save(session, rt, raw, _user())
            except SettingsError as exc:
                error, error_field = error_text(exc, setting=setting_label), exc.field
            else:
                if changed:
                    current_app.config.update({k: rt.settings[k] for k in changed})
                    flash(
                        _(
                            "The settings are saved. The consent form text changes with them: "
                            "new consents are signed on a new form version."
                        )
                        if set(changed) & FORM_SETTINGS
                        else _("The settings are saved."),
                        "info",
                    )
                return redirect(url_for("settings.index"))
    shown = [
        (s.name, rt.settings.get(s.name), s.help)
        for s in config_mod.SETTINGS
        if s.name not in ("SECRET_KEY", "ENCRYPTION_KEY", "DATABASE_URL", "QUEUE_URL")
    ]
    return (
        render_template(
            "settings/index.html",
            form=form,
            values=values,
            retention_amount=amount,
            retention_unit=unit,
            time_zones=sorted(zoneinfo.available_timezones()),
            shown=shown,
            error=error,
            error_field=error_field,
            missing=people_service.missing_form_details(rt.settings),
        ),
        422 if error else 200,
    )


# Settings the consent form's text is made from.
FORM_SETTINGS = {"BUSINESS_NAME", "RESPONSIBLE_PERSON", "RETENTION", "REMOVAL_DUE_DAYS"}


def _split_period(text: str) -> tuple[str, str]:
    text = text.strip().lower()
    if text[:-1].isdigit() and text[-1:] in ("y", "m", "d"):
        return text[:-1], text[-1]
    return text, "y"


def setting_label(name: str) -> str:
    """A setting as the settings page names it."""
    labels = {
        "BUSINESS_NAME": _("Business name"),
        "RESPONSIBLE_PERSON": _("Responsible for the data"),
        "LANGUAGE": _("Default language"),
        "TIME_ZONE": _("Time zone"),
        "REMOVAL_DUE_DAYS": _("Days to take a post down"),
        "RETENTION": _("Keep inactive customers for"),
    }
    return labels.get(name, name)


@bp.route("/users", methods=["GET", "POST"])
@owner_required
def users() -> Any:
    form = UserForm()
    form.role.choices = [("staff", _("Staff")), ("owner", _("Owner"))]  # type: ignore[assignment]
    error = None
    if form.validate_on_submit():
        try:
            with transaction() as session:
                created = users_service.create_user(
                    session,
                    form.email.data or "",
                    form.name.data or "",
                    form.password.data or "",
                    role=form.role.data or "staff",
                    actor=_user().email,
                )
        except UserError as exc:
            error = error_text(exc)
        else:
            flash(_("The account for %(email)s is ready.", email=created.email), "info")
            return redirect(url_for("settings.users"))
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    accounts = users_service.all_users(db())
    return (
        render_template("settings/users.html", form=form, accounts=accounts, error=error),
        422 if error else 200,
    )


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@owner_required
def deactivate(user_id: int) -> Any:
    try:
        with transaction() as session:
            user = users_service.user_by_id(session, user_id)
            if user is None:
                abort(404)
            if users_service.deactivate_user(session, user, _user()):
                flash(
                    _("%(email)s is deactivated and signed out everywhere.", email=user.email),
                    "info",
                )
    except UserError as exc:
        flash(error_text(exc), "error")
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/publish")
@owner_required
def grant_publish(user_id: int) -> Any:
    """Give a staff member the right to clear faces, confirm photos, queue and publish (or take it)."""
    allowed = request.form.get("allowed") == "1"
    with transaction() as session:
        user = users_service.user_by_id(session, user_id)
        if user is None or not user.active:
            abort(404)
        changed = users_service.set_may_publish(session, user, allowed, _user())
    if changed:
        if allowed:
            flash(_("%(email)s may now clear faces, queue and publish.", email=user.email), "info")
        else:
            flash(_("%(email)s may no longer publish.", email=user.email), "info")
    return redirect(url_for("settings.users"))


@bp.route("/tokens", methods=["GET", "POST"])
@owner_required
def tokens() -> Any:
    form = TokenForm()
    form.scope.choices = [("write", _("Read and write")), ("read", _("Read only"))]  # type: ignore[assignment]
    form.days.choices = [  # type: ignore[assignment]
        ("90", _("90 days")),
        ("30", _("30 days")),
        ("365", _("a year")),
        ("0", _("until revoked")),
    ]
    clear = None
    if form.validate_on_submit():
        days = int(form.days.data or "0")
        with transaction() as session:
            _token, clear = users_service.create_token(
                session,
                _user(),
                form.name.data or "",
                scope=form.scope.data or "write",
                expires_in=timedelta(days=days) if days else None,
            )
        form.name.data = ""
    listed = users_service.all_tokens(db())
    # The clear token is in this one response only; never cache it.
    response = render_template("settings/tokens.html", form=form, tokens=listed, clear=clear)
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@owner_required
def revoke_token(token_id: int) -> Any:
    with transaction() as session:
        token = users_service.token_by_id(session, token_id)
        if token is None:
            abort(404)
        users_service.revoke_token(session, token, _user())
    flash(_("The token is revoked."), "info")
    return redirect(url_for("settings.tokens"))
