"""People: the list with search, one page per person, adding and editing, and recording consent."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS
from consentcam.models import Person
from consentcam.public_url import public_base
from consentcam.security import parse_id
from consentcam.services import listings
from consentcam.services import people as people_service
from consentcam.services.people import ConsentAlreadyRecorded, ConsentError, EvidenceTampered
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.lookups import or_404
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_names as channel_labels
from consentcam.web.words import error_text

bp = Blueprint("people", __name__, url_prefix="/people")
log = logging.getLogger(__name__)
PER_PAGE = 50
PHOTO_CHOICES = 60
CHANNELS = tuple(c.value for c in Channel)
EVIDENCE_EXT = EVIDENCE_EXTENSIONS


def _user() -> Any:
    return current_user._get_current_object()


def _person(person_id: int) -> Person:
    return or_404(listings.person(db(), person_id))


def record_url(person_id: int) -> str | None:
    """The person's page as an absolute URL on PUBLIC_URL, or None while it is not set.

    Never from the request's Host header (anyone can send "Host: evil.example"), and never a
    loopback address, which no phone scanning the printed form could open.
    """
    base = public_base(current_app.config)
    if base is None:
        return None
    return base + url_for("people.detail", person_id=person_id)


class PersonForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("E-mail", validators=[Optional(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    is_minor = BooleanField("The person is under 18")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class ConsentForm(FlaskForm):
    language = HiddenField(default="en")
    form_sha256 = HiddenField()
    expires_on = DateField("Valid until", validators=[Optional()])
    minor = BooleanField("The person is a minor")
    guardian_name = StringField("Guardian's name", validators=[Optional(), Length(max=200)])
    signer_name = StringField(
        "Name of the person signing", validators=[Optional(), Length(max=200)]
    )
    biometric = BooleanField("Automatic face recognition")
    signature = HiddenField()
    scan = FileField("Scan of the signed form")
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class ReferenceForm(FlaskForm):
    photo = FileField("Reference photo")


@bp.route("/")
@login_required
def index() -> Any:
    query = request.args.get("q", "")[:200]
    page = request.args.get("page", 1, type=int) or 1
    rows, total = people_service.search_people(db(), query, page=page, per_page=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "people/index.html", rows=rows, total=total, query=query, page=page, pages=pages
    )


def _details(form: PersonForm) -> dict[str, Any]:
    """The person's details as the form gives them (the service checks and trims them)."""
    return {
        "name": form.name.data or "",
        "email": form.email.data,
        "phone": form.phone.data,
        "is_minor": bool(form.is_minor.data),
        "note": form.note.data,
    }


@bp.route("/new", methods=["GET", "POST"])
@owner_required
def new() -> Any:
    form = PersonForm()
    if form.validate_on_submit():
        try:
            with transaction() as session:
                person = people_service.add_person(session, **_details(form), actor=_user())
        except ConsentError as exc:
            flash(error_text(exc), "error")
        else:
            flash(_("%(name)s was added.", name=person.name), "info")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/edit.html", form=form, person=None)


def _detail_content(person: Person) -> dict[str, Any]:
    """What the person's page shows (rendered once, then remembered while nothing changes)."""
    session = db()
    consents = people_service.consents_newest_first(session, person)
    now = datetime.now(UTC)
    views = current_app.view_functions
    return {
        "person": person,
        "consents": consents,
        "chosen_photos": people_service.chosen_photo_counts(session, consents),
        # "Withdraw consent" only while something is left to withdraw.
        "withdrawable": people_service.anything_to_withdraw(consents, now),
        "consent_state": people_service.consent_state,
        "photos": people_service.confirmed_photos(session, person),
        "publications": people_service.publications_showing(session, person),
        "removal_tasks": people_service.open_removal_tasks(session, person),
        "uploads": people_service.recent_uploads(session, person, limit=20),
        "references": people_service.reference_count(session, person),
        # From the consents already loaded: the same answer without asking again.
        "biometric": people_service.biometric_among(consents, now),
        "channel_labels": channel_labels(),
        "has_thumbnails": "photos.thumbnail" in views,
        "has_photo_pages": "photos.detail" in views,
        "can_withdraw": "withdrawals.new" in views,
        "has_privacy_tools": "privacy.export" in views,
        "now": now,
        "day": timedelta(days=1),
    }


@bp.route("/<int:person_id>")
@login_required
def detail(person_id: int) -> Any:
    person = _person(person_id)
    return render_template("people/detail.html", **_detail_content(person))


@bp.route("/<int:person_id>/edit", methods=["GET", "POST"])
@owner_required
def edit(person_id: int) -> Any:
    person = _person(person_id)
    form = PersonForm(obj=person)
    if form.validate_on_submit():
        try:
            with transaction() as session:
                people_service.update_person(session, person, **_details(form), actor=_user())
        except ConsentError as exc:
            flash(error_text(exc), "error")
        else:
            flash(_("The changes are saved."), "info")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/edit.html", form=form, person=person)


def _language() -> str:
    lang = request.values.get("language") or request.args.get("lang") or ""
    if lang in people_service.LANGUAGES:
        return lang
    from consentcam.web import select_locale

    return select_locale()


def _expiry(day: Any) -> datetime | None:
    # "Valid until 31 May" means through that whole day.
    if day is None:
        return None
    return datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(days=1)


def _form_not_ready(person: Person, exc: ConsentError) -> Any:
    """The consent form cannot be shown yet: say which setting is missing, with a link to it."""
    return (
        render_template("people/form_not_ready.html", person=person, message=error_text(exc)),
        409,
    )


def _chosen() -> dict[str, Any]:
    """The form's plain inputs: channels, scope, photos and evidence kind.

    WTForms' choice fields add nothing here: the service checks every value.
    """
    return {
        "channels": [c for c in request.form.getlist("channels") if c in CHANNELS],
        "scope": "listed" if request.form.get("scope") == "listed" else "all",
        "photo_ids": [n for v in request.form.getlist("photo_ids") if (n := parse_id(v))],
        "evidence_kind": "scan" if request.form.get("evidence_kind") == "scan" else "signature",
    }


def _answers(
    form: ConsentForm, chosen: dict[str, Any], language: str
) -> people_service.ConsentAnswers:
    """The owner's consent form as the service reads it."""
    upload = form.scan.data if chosen["evidence_kind"] == "scan" else None
    return people_service.ConsentAnswers(
        language=language,
        channels=chosen["channels"],
        scope=chosen["scope"],
        photo_ids=chosen["photo_ids"] if chosen["scope"] == "listed" else [],
        evidence_kind=chosen["evidence_kind"],
        signature=form.signature.data or "",
        scan=upload.read() if upload else b"",
        minor=bool(form.minor.data),
        guardian_name=form.guardian_name.data or "",
        signer_name=form.signer_name.data or "",
        expires_at=_expiry(form.expires_on.data),
        biometric=bool(form.biometric.data),
        note=form.note.data or None,
        form_sha256=request.form.get("form_sha256") or None,
    )


def _consent_page(person: Person, form: ConsentForm, version: Any, **page: Any) -> Any:
    form.form_sha256.data = version.sha256
    return (
        render_template(
            "people/consent.html",
            person=person,
            form=form,
            version=version,
            photos=people_service.recent_photos(db(), PHOTO_CHOICES),
            channels=CHANNELS,
            channel_labels=channel_labels(),
            has_thumbnails="photos.thumbnail" in current_app.view_functions,
            **page,
        ),
        422 if page["error"] else 200,
    )


@bp.route("/<int:person_id>/consents/new", methods=["GET", "POST"])
@owner_required
def consent_new(person_id: int) -> Any:
    person = _person(person_id)
    language = _language()
    form = ConsentForm()
    if request.method == "GET":
        form.minor.data = person.is_minor
        form.signer_name.data = person.name
    form.language.data = language
    try:
        # Read only: the form version is stored when a consent on it is recorded.
        version = people_service.form_to_show(db(), runtime(), language)
    except people_service.FormDetailsMissing as exc:
        return _form_not_ready(person, exc)
    chosen = _chosen()
    error: str | None = None
    if request.method == "POST" and form.validate():
        try:
            with transaction() as session:
                record = people_service.record_consent_form(
                    session, runtime(), person, _answers(form, chosen, language), actor=_user()
                )
        except ConsentAlreadyRecorded as exc:
            flash(error_text(exc), "info")  # the form was sent twice: the first one counts
            anchor = f"#consent-{exc.record_id}"
            return redirect(url_for("people.detail", person_id=person.id) + anchor)
        except ConsentError as exc:
            error = error_text(exc)
        else:
            flash(_("The consent is recorded."), "info")
            return redirect(url_for("people.detail", person_id=person.id) + f"#consent-{record.id}")
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    return _consent_page(person, form, version, language=language, error=error, chosen=chosen)


@bp.route("/<int:person_id>/consents/<int:consent_id>/evidence")
@owner_required
def evidence(person_id: int, consent_id: int) -> Any:
    record = or_404(people_service.consent_with_evidence(db(), person_id, consent_id))
    try:
        data = people_service.read_evidence(runtime(), record)
    except EvidenceTampered as exc:
        log.error("evidence refused: %s", exc)
        return render_template("people/evidence_error.html", record=record), 500
    except FileNotFoundError:
        log.error("evidence of consent %s is missing from storage", record.id)
        return render_template("people/evidence_error.html", record=record), 500
    mime = record.evidence_mime or "application/octet-stream"
    name = (
        f"consent-{record.id}-{record.evidence_kind or 'evidence'}.{EVIDENCE_EXT.get(mime, 'bin')}"
    )
    return Response(
        data,
        mimetype=mime,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.route("/<int:person_id>/form.pdf")
@owner_required
def form_pdf(person_id: int) -> Any:
    rt = runtime()
    person = _person(person_id)
    language = _language()
    try:
        version = people_service.form_to_show(db(), rt, language)
    except people_service.FormDetailsMissing as exc:
        return _form_not_ready(person, exc)
    # fpdf (and its fonts) load on the first printed form, not with every web process.
    from consentcam.consent_pdf import consent_form_pdf

    data = consent_form_pdf(
        title=version.title,
        body=version.body,
        language=language,
        version=version.version,
        person_name=person.name,
        record_url=record_url(person.id),
        business=rt.settings.get("BUSINESS_NAME") or "",
    )
    name = f"consent-form-{person.id}-{language}-v{version.version}.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/<int:person_id>/references", methods=["POST"])
@owner_required
def reference_upload(person_id: int) -> Any:
    person = _person(person_id)
    back = url_for("people.detail", person_id=person.id) + "#references"
    form = ReferenceForm()
    upload = form.photo.data if form.validate_on_submit() else None
    data = upload.read() if upload else b""
    if upload:
        upload.close()
    if not data:
        flash(_("Choose a photo that shows only this person's face."), "error")
        return redirect(back)
    name = (upload and upload.filename) or "reference"
    try:
        # Face encoding runs in the worker, queued once this is committed.
        with transaction() as session:
            people_service.queue_reference(session, runtime(), person, data, name, actor=_user())
    except ConsentError as exc:
        flash(error_text(exc), "error")
        return redirect(back)
    flash(_("The reference photo is uploaded; it is enrolled in the background."), "info")
    return redirect(back)
