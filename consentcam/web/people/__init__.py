"""People: the list with search, one page per person, adding and editing, and recording consent."""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
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

from consentcam.consent_pdf import consent_form_pdf
from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS
from consentcam.models import ConsentRecord, Person, Photo, ReferenceUpload
from consentcam.public_url import public_base
from consentcam.security import parse_id
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError, EvidenceTampered
from consentcam.web import db, runtime
from consentcam.web.auth import owner_required
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
    person = db().get(Person, person_id)
    if person is None or person.erased_at is not None:
        abort(404)
    return person


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


@bp.route("/new", methods=["GET", "POST"])
@owner_required
def new() -> Any:
    form = PersonForm()
    if form.validate_on_submit():
        try:
            person = people_service.add_person(
                db(),
                form.name.data or "",
                email=form.email.data,
                phone=form.phone.data,
                is_minor=bool(form.is_minor.data),
                note=form.note.data,
                actor=_user(),
            )
        except ConsentError as exc:
            flash(error_text(exc), "error")
        else:
            db().commit()
            flash(_("%(name)s was added.", name=person.name), "info")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/edit.html", form=form, person=None)


@bp.route("/<int:person_id>")
@login_required
def detail(person_id: int) -> Any:
    session = db()
    person = _person(person_id)

    def content() -> dict[str, Any]:
        uploads = list(
            session.scalars(
                sa.select(ReferenceUpload)
                .where(ReferenceUpload.person_id == person.id)
                .order_by(ReferenceUpload.created_at.desc())
                .limit(20)
            )
        )
        consents = people_service.consents_newest_first(session, person)
        now = datetime.now(UTC)
        return {
            "person": person,
            "consents": consents,
            # "Withdraw consent" only while something is left to withdraw.
            "withdrawable": any(
                (
                    any(ch.withdrawn_at is None for ch in c.channels)
                    or (c.biometric and c.biometric_withdrawn_at is None)
                )
                and (c.expires_at is None or c.expires_at > now)
                for c in consents
            ),
            "consent_state": people_service.consent_state,
            "photos": people_service.confirmed_photos(session, person),
            "publications": people_service.publications_showing(session, person),
            "removal_tasks": people_service.open_removal_tasks(session, person),
            "uploads": uploads,
            "references": people_service.reference_count(session, person),
            "biometric": people_service.has_biometric_consent(session, person),
            "reference_form": ReferenceForm(),
            "channel_labels": channel_labels(),
            "has_thumbnails": "photos.thumbnail" in current_app.view_functions,
            "has_photo_pages": "photos.detail" in current_app.view_functions,
            "can_withdraw": "withdrawals.new" in current_app.view_functions,
            "has_privacy_tools": "privacy.export" in current_app.view_functions,
            "now": datetime.now(UTC),
            "day": timedelta(days=1),
        }

    return render_template("people/detail.html", **content())


@bp.route("/<int:person_id>/edit", methods=["GET", "POST"])
@owner_required
def edit(person_id: int) -> Any:
    person = _person(person_id)
    form = PersonForm(obj=person)
    if form.validate_on_submit():
        try:
            people_service.update_person(
                db(),
                person,
                name=form.name.data or "",
                email=form.email.data,
                phone=form.phone.data,
                is_minor=bool(form.is_minor.data),
                note=form.note.data,
                actor=_user(),
            )
        except ConsentError as exc:
            flash(error_text(exc), "error")
        else:
            db().commit()
            flash(_("The changes are saved."), "info")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/edit.html", form=form, person=person)


def _language() -> str:
    lang = request.values.get("language") or request.args.get("lang") or ""
    if lang in people_service.LANGUAGES:
        return lang
    from consentcam.web import select_locale

    return select_locale()


def _decode_signature(value: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not value:
        raise ConsentError(_("The signature is empty: please sign in the box."))
    if not value.startswith(prefix):
        raise ConsentError(_("The signature is not a PNG image."))
    try:
        return base64.b64decode(value[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConsentError(_("The signature is not a PNG image.")) from exc


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


@bp.route("/<int:person_id>/consents/new", methods=["GET", "POST"])
@owner_required
def consent_new(person_id: int) -> Any:
    session = db()
    rt = runtime()
    person = _person(person_id)
    language = _language()
    form = ConsentForm()
    if request.method == "GET":
        form.minor.data = person.is_minor
        form.signer_name.data = person.name
    form.language.data = language
    try:
        version = people_service.current_form(session, rt, language)
    except people_service.FormDetailsMissing as exc:
        return _form_not_ready(person, exc)
    session.commit()
    recent = list(
        session.scalars(
            sa.select(Photo)
            .order_by(Photo.uploaded_at.desc(), Photo.id.desc())
            .limit(PHOTO_CHOICES)
        )
    )
    # Channels, scope, photos and evidence kind are plain inputs (WTForms' choice fields add
    # nothing here: every value is checked by the service or below).
    chosen: dict[str, Any] = {
        "channels": [c for c in request.form.getlist("channels") if c in CHANNELS],
        "scope": "listed" if request.form.get("scope") == "listed" else "all",
        "photo_ids": [n for v in request.form.getlist("photo_ids") if (n := parse_id(v))],
        "evidence_kind": "scan" if request.form.get("evidence_kind") == "scan" else "signature",
    }
    error: str | None = None
    if request.method == "POST" and form.validate():
        try:
            if request.form.get("form_sha256") and request.form["form_sha256"] != version.sha256:
                raise ConsentError(
                    _("The form text changed while you were filling it in: read it again and sign.")
                )
            minor = bool(form.minor.data)
            guardian = (form.guardian_name.data or "").strip()
            if minor and not guardian:
                raise ConsentError(
                    _("A minor's consent is signed by a guardian: enter the guardian's name.")
                )
            if chosen["evidence_kind"] == "scan":
                upload = form.scan.data
                data = upload.read() if upload else b""
                mime = people_service.sniff_scan_mime(data) or ""
                if not data:
                    raise ConsentError(_("Choose the scan or photo of the signed form."))
                if not mime:
                    raise ConsentError(_("The scan must be a PDF, JPEG or PNG file."))
                people_service.check_scan(data, mime)
                kind = "scan"
            else:
                data = _decode_signature(form.signature.data or "")
                people_service.check_signature(data)
                mime, kind = "image/png", "signature"
            photo_ids = chosen["photo_ids"] if chosen["scope"] == "listed" else []
            known = (
                set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(photo_ids))))
                if photo_ids
                else set()
            )
            if set(photo_ids) - known:
                raise ConsentError(_("Some of the chosen photos do not exist."))
            if minor and not person.is_minor:
                people_service.update_person(
                    session,
                    person,
                    name=person.name,
                    email=person.email,
                    phone=person.phone,
                    is_minor=True,
                    note=person.note,
                    actor=_user(),
                )
            record = people_service.give_consent(
                session,
                rt,
                person,
                channels=chosen["channels"],
                evidence=data,
                evidence_mime=mime,
                evidence_kind=kind,
                signer_name=guardian if minor else (form.signer_name.data or person.name),
                guardian=minor,
                scope=chosen["scope"],
                photo_ids=photo_ids,
                expires_at=_expiry(form.expires_on.data),
                biometric=bool(form.biometric.data),
                language=language,
                actor=_user(),
                note=form.note.data or None,
                form_sha256=version.sha256,
            )
        except ConsentError as exc:
            session.rollback()
            error = error_text(exc)
        else:
            session.commit()
            flash(_("The consent is recorded."), "info")
            return redirect(url_for("people.detail", person_id=person.id) + f"#consent-{record.id}")
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    form.form_sha256.data = version.sha256
    status = 422 if error else 200
    return (
        render_template(
            "people/consent.html",
            person=person,
            form=form,
            version=version,
            language=language,
            error=error,
            photos=recent,
            chosen=chosen,
            channels=CHANNELS,
            channel_labels=channel_labels(),
            has_thumbnails="photos.thumbnail" in current_app.view_functions,
        ),
        status,
    )


@bp.route("/<int:person_id>/consents/<int:consent_id>/evidence")
@owner_required
def evidence(person_id: int, consent_id: int) -> Any:
    record = db().get(ConsentRecord, consent_id)
    if record is None or record.person_id != person_id or not record.evidence_key:
        abort(404)
    if record.person.erased_at is not None:
        abort(404)
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
    session = db()
    rt = runtime()
    person = _person(person_id)
    language = _language()
    try:
        version = people_service.current_form(session, rt, language)
    except people_service.FormDetailsMissing as exc:
        return _form_not_ready(person, exc)
    session.commit()
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
    session = db()
    person = _person(person_id)
    form = ReferenceForm()
    upload = form.photo.data if form.validate_on_submit() else None
    data = upload.read() if upload else b""
    if upload:
        upload.close()
    if not data:
        flash(_("Choose a photo that shows only this person's face."), "error")
        return redirect(url_for("people.detail", person_id=person.id) + "#references")
    try:
        queued = people_service.queue_reference(
            session,
            runtime(),
            person,
            data,
            (upload and upload.filename) or "reference",
            actor=_user(),
        )
    except ConsentError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("people.detail", person_id=person.id) + "#references")
    session.commit()
    # Face encoding runs in the worker, never in this request thread.
    current_app.extensions["jobs"].enqueue("enrol_reference", queued.id)
    flash(_("The reference photo is uploaded; it is enrolled in the background."), "info")
    return redirect(url_for("people.detail", person_id=person.id) + "#references")
