"""A person's privacy rights: download everything about them (Art. 15), erase them (Art. 17)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from consentcam.models import Person
from consentcam.services import listings, privacy
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.lookups import or_404
from consentcam.web.translate import gettext as _
from consentcam.web.words import error_text

bp = Blueprint("privacy", __name__, url_prefix="/people")


class ExportForm(FlaskForm):
    pass


class EraseForm(FlaskForm):
    confirm_id = StringField("Type the person's number to confirm", validators=[DataRequired()])
    understood = BooleanField("I understand this cannot be undone", validators=[DataRequired()])


def _person(person_id: int) -> Person:
    return or_404(listings.person(db(), person_id, include_erased=True))


def _back(person: Person) -> str:
    from flask import current_app

    if "people.detail" in current_app.view_functions:
        return url_for("people.detail", person_id=person.id)
    return url_for("dashboard.index")


@bp.route("/<int:person_id>/export", methods=["GET"])
@owner_required
def export(person_id: int) -> Any:
    person = _person(person_id)
    return render_template(
        "privacy/export.html", person=person, form=ExportForm(), back=_back(person)
    )


@bp.route("/<int:person_id>/export", methods=["POST"])
@owner_required
def export_download(person_id: int) -> Any:
    person = _person(person_id)
    if not ExportForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        result = privacy.export_person(
            session, runtime(), person, current_user._get_current_object()
        )
    response = Response(result.data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:person_id>/erase", methods=["GET"])
@owner_required
def erase(person_id: int) -> Any:
    person = _person(person_id)
    live = privacy.live_posts_of(db(), person.id) if person.erased_at is None else []
    return render_template(
        "privacy/erase.html", person=person, live=live, form=EraseForm(), back=_back(person)
    )


@bp.route("/<int:person_id>/erase", methods=["POST"])
@owner_required
def erase_confirm(person_id: int) -> Any:
    person = _person(person_id)
    form = EraseForm()
    if not form.validate_on_submit() or (form.confirm_id.data or "").strip() != str(person.id):
        flash(_("Type the person's number and tick the box to confirm."), "error")
        return redirect(url_for("privacy.erase", person_id=person.id))
    try:
        with transaction() as session:
            privacy.erase_person(session, runtime(), person, current_user._get_current_object())
    except privacy.PrivacyError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("privacy.erase", person_id=person_id))
    flash(_("Erased. Only the number %(id)s remains in the records.", id=person_id), "success")
    return redirect(url_for("privacy.erase", person_id=person_id))
