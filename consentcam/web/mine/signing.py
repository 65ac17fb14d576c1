"""Signing through a one-time consent link on the customer's own phone, and the receipt."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, url_for
from flask_babel import force_locale, format_date
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField
from wtforms.validators import Email, Length, Optional

from consentcam.models import ConsentRecord, Person, PersonalLink
from consentcam.services import links
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.web import db, runtime, select_locale, transaction
from consentcam.web.mine import CHANNELS, bp, refused
from consentcam.web.outgoing import (
    business_name,
    external_url,
    mail_on,
    own_url,
    public_root,
    qr_png_data_uri,
    queue_templated_mail,
)
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_names, error_text


class SignForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    language = HiddenField()
    form_sha256 = HiddenField()
    name = StringField("Your name", validators=[Optional(), Length(max=200)])
    minor = BooleanField("I am signing for a child under 18")
    guardian_name = StringField("Guardian's name", validators=[Optional(), Length(max=200)])
    email = EmailField("E-mail for the receipt", validators=[Optional(), Email(), Length(max=254)])
    biometric = BooleanField("Automatic face recognition")
    signature = HiddenField()


def _form_language() -> str:
    lang = request.values.get("language") or ""
    return lang if lang in people_service.LANGUAGES else select_locale()


@bp.route("/c/<token>", methods=["GET", "POST"])
def sign(token: str) -> Any:
    try:
        link = links.open_consent_link(db(), token)
    except links.LinkRefused:
        return refused()
    person = link.person
    language = _form_language()
    form = SignForm()
    chosen = [c for c in request.form.getlist("channels") if c in CHANNELS]
    error: str | None = None
    if request.method == "POST" and form.validate():
        done, error = _sign(token, person, form, chosen, language)
        if done is not None:
            return done
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
    version = people_service.form_to_show(db(), runtime(), language)
    form.language.data = language
    form.form_sha256.data = version.sha256
    return (
        render_template(
            "mine/sign.html",
            form=form,
            person=person,
            version=version,
            language=language,
            channels=CHANNELS,
            chosen=chosen,
            channel_labels=channel_names(),
            error=error,
            business=business_name(),
            minor=bool(person and person.is_minor),
            token=token,
        ),
        422 if error else 200,
    )


def _sign(
    token: str, person: Person | None, form: SignForm, chosen: list[str], language: str
) -> tuple[Any, str | None]:
    """Record the signed consent and queue its receipt in one transaction.

    Returns (the answer to give, None), or (None, the words of the refusal): then nothing was
    recorded and the link is still unused.
    """
    try:
        with transaction() as session:
            if person is None and not (form.name.data or "").strip():
                raise ConsentError(_("Write your name."))
            signed = links.sign_by_link(
                session,
                runtime(),
                token,
                channels=chosen,
                biometric=bool(form.biometric.data),
                signature=people_service.signature_from_data_url(form.signature.data or ""),
                language=language,
                form_sha256=form.form_sha256.data or None,
                name=form.name.data or "",
                minor=bool(form.minor.data),
                guardian_name=form.guardian_name.data or "",
                email=form.email.data or None,
                user_agent=request.user_agent.string,
            )
            ids = _queue_receipt(session, signed, language)
    except links.LinkRefused:
        return refused(), None
    except ConsentError as exc:
        return None, error_text(exc)
    receipt = url_for(
        "mine.receipt",
        token=signed.personal_token,
        consent_id=signed.record.id,
        sent="1" if ids else "0",
    )
    return redirect(receipt, 303), None


def _queue_receipt(session: Any, signed: links.Signed, language: str) -> list[int]:
    person = signed.person
    if not person.email or public_root() is None:
        return []
    my_url = external_url("mine.page", token=signed.personal_token)
    return queue_templated_mail(
        session,
        "receipt",
        language,
        to=person.email,
        person_id=person.id,
        person=person,
        record=signed.record,
        channel_labels=_labels_in(language),
        my_url=my_url,
        receipt_url=external_url(
            "mine.receipt", token=signed.personal_token, consent_id=signed.record.id
        ),
        business=business_name(),
    )


def _labels_in(language: str) -> dict[str, str]:
    with force_locale(language):
        return channel_names()


# --- The receipt ---------------------------------------------------------------------------------


def _own_consent(token: str, consent_id: int) -> tuple[PersonalLink, ConsentRecord] | None:
    """The personal link of this token and one of its person's own consents; None for any
    other token or consent (they all get the same refusal)."""
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return None
    record = links.own_consent(db(), link, consent_id)
    return None if record is None else (link, record)


@bp.route("/m/<token>/receipt/<int:consent_id>")
def receipt(token: str, consent_id: int) -> Any:
    found = _own_consent(token, consent_id)
    if found is None:
        return refused()
    link, record = found
    my_url = own_url("mine.page", token=token)
    return render_template(
        "mine/receipt.html",
        person=link.person,
        record=record,
        token=token,
        my_url=my_url,
        qr=qr_png_data_uri(my_url, scale=5),
        channel_labels=channel_names(),
        mail_on=mail_on(),
        sent=request.args.get("sent") == "1",
        business=business_name(),
    )


@bp.route("/m/<token>/receipt/<int:consent_id>.pdf")
def receipt_pdf(token: str, consent_id: int) -> Any:
    from consentcam.reports.receipt import receipt_pdf as make_pdf

    found = _own_consent(token, consent_id)
    if found is None:
        return refused()
    link, record = found
    rt = runtime()
    try:
        signature = people_service.read_evidence(rt, record)
    except (FileNotFoundError, people_service.EvidenceTampered):
        signature = None
    version = record.form_version
    data = make_pdf(
        business=business_name(),
        title=_("Receipt of your consent"),
        rows=_receipt_rows(link.person, record),
        form_title=version.title if version else "",
        form_body=version.body if version else "",
        signature_png=signature,
        my_url=own_url("mine.page", token=token),
        my_label=_("Your own page: see, withdraw or change your consent"),
    )
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="consent-receipt-{record.id}.pdf"',
        },
    )


def _receipt_rows(person: Person, record: ConsentRecord) -> list[tuple[str, str]]:
    """The receipt's facts, as (label, value) in the reader's language."""
    labels = channel_names()
    version = record.form_version
    return [
        (_("Name"), person.name),
        (_("Signed by"), record.signer_name),
        (_("Signed"), format_date(record.given_at, "long")),
        (
            _("Published on"),
            ", ".join(labels[c.channel] for c in record.channels) or _("No channel"),
        ),
        (
            _("Automatic face recognition"),
            _("Agreed") if record.biometric else _("Not agreed"),
        ),
        (
            _("Form version"),
            f"{version.language}-v{version.version}" if version else "-",
        ),
        (_("Signature SHA-256"), record.evidence_sha256 or "-"),
    ]
