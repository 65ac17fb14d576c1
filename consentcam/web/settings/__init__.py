"""Settings for the owner: user accounts, API tokens and the business's instance settings."""

from __future__ import annotations

import tomllib
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from consentcam import config as config_mod
from consentcam.models import ApiToken, User
from consentcam.services import events
from consentcam.services import users as users_service
from consentcam.services.users import UserError
from consentcam.web import db, runtime
from consentcam.web.auth import owner_required

bp = Blueprint("settings", __name__, url_prefix="/settings")
# Settings the owner may change here; the rest (keys, database, queue) stay in config.toml.
EDITABLE = ("BUSINESS_NAME", "RESPONSIBLE_PERSON", "LANGUAGE")


def _user() -> Any:
    return current_user._get_current_object()


class InstanceForm(FlaskForm):
    business_name = StringField("Business name", validators=[Length(max=200)])
    responsible_person = StringField("Responsible person", validators=[Length(max=200)])
    language = StringField("Language")


class UserForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email()])
    name = StringField("Name", validators=[Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired()])
    role = SelectField("Role")


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


@bp.route("/", methods=["GET", "POST"])
@owner_required
def index() -> Any:
    rt = runtime()
    form = InstanceForm()
    if request.method == "GET":
        form.business_name.data = rt.settings.get("BUSINESS_NAME") or ""
        form.responsible_person.data = rt.settings.get("RESPONSIBLE_PERSON") or ""
        form.language.data = rt.settings.get("LANGUAGE") or "en"
    elif form.validate_on_submit():
        language = form.language.data if form.language.data in ("en", "sv") else "en"
        new = {
            "BUSINESS_NAME": (form.business_name.data or "").strip(),
            "RESPONSIBLE_PERSON": (form.responsible_person.data or "").strip(),
            "LANGUAGE": language,
        }
        changed = {k: v for k, v in new.items() if rt.settings.get(k) != v}
        if changed:
            path = rt.instance_path / config_mod.CONFIG_FILE
            current: dict[str, Any] = {}
            if path.exists():
                with path.open("rb") as fh:
                    current = tomllib.load(fh)
            # Keep every existing key (secrets, URLs) and change only the three shown here.
            current.update({k.lower(): v for k, v in new.items()})
            config_mod.write_instance_config(rt.instance_path, current)
            rt.settings.update(new)
            from flask import current_app

            current_app.config.update(new)
            events.record(
                db(),
                "settings.changed",
                "instance",
                {"fields": sorted(changed)},
                actor=_user().email,
            )
            db().commit()
            flash(
                _(
                    "The settings are saved. The consent form text changes with them: new consents are signed on a new form version."
                ),
                "info",
            )
        return redirect(url_for("settings.index"))
    shown = [
        (s.name, rt.settings.get(s.name), s.help)
        for s in config_mod.SETTINGS
        if s.name not in ("SECRET_KEY", "ENCRYPTION_KEY", "DATABASE_URL", "QUEUE_URL")
    ]
    return render_template("settings/index.html", form=form, shown=shown)


@bp.route("/users", methods=["GET", "POST"])
@owner_required
def users() -> Any:
    session = db()
    form = UserForm()
    form.role.choices = [("staff", _("Staff")), ("owner", _("Owner"))]  # type: ignore[assignment]
    error = None
    if form.validate_on_submit():
        try:
            created = users_service.create_user(
                session,
                form.email.data or "",
                form.name.data or "",
                form.password.data or "",
                role=form.role.data or "staff",
                actor=_user().email,
            )
        except UserError as exc:
            session.rollback()
            error = str(exc)
        else:
            session.commit()
            flash(_("The account for %(email)s is ready.", email=created.email), "info")
            return redirect(url_for("settings.users"))
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    accounts = list(session.scalars(sa.select(User).order_by(User.active.desc(), User.email)))
    return (
        render_template("settings/users.html", form=form, accounts=accounts, error=error),
        422 if error else 200,
    )


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@owner_required
def deactivate(user_id: int) -> Any:
    session = db()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    try:
        if users_service.deactivate_user(session, user, _user()):
            flash(
                _("%(email)s is deactivated and signed out everywhere.", email=user.email), "info"
            )
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("settings.users"))
    session.commit()
    return redirect(url_for("settings.users"))


@bp.post("/users/<int:user_id>/publish")
@owner_required
def grant_publish(user_id: int) -> Any:
    """Give a staff member the right to clear faces, confirm photos, queue and publish (or take it)."""
    session = db()
    user = session.get(User, user_id)
    if user is None or not user.active:
        abort(404)
    allowed = request.form.get("allowed") == "1"
    if users_service.set_may_publish(session, user, allowed, _user()):
        session.commit()
        if allowed:
            flash(_("%(email)s may now clear faces, queue and publish.", email=user.email), "info")
        else:
            flash(_("%(email)s may no longer publish.", email=user.email), "info")
    return redirect(url_for("settings.users"))


@bp.route("/tokens", methods=["GET", "POST"])
@owner_required
def tokens() -> Any:
    session = db()
    form = TokenForm()
    clear = None
    if form.validate_on_submit():
        _token, clear = users_service.create_token(session, _user(), form.name.data or "")
        session.commit()
        form.name.data = ""
    listed = list(
        session.scalars(
            sa.select(ApiToken).order_by(
                ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc()
            )
        )
    )
    # The clear token is in this one response only; never cache it.
    response = render_template("settings/tokens.html", form=form, tokens=listed, clear=clear)
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@owner_required
def revoke_token(token_id: int) -> Any:
    token = db().get(ApiToken, token_id)
    if token is None:
        abort(404)
    users_service.revoke_token(db(), token, _user())
    db().commit()
    flash(_("The token is revoked."), "info")
    return redirect(url_for("settings.tokens"))
