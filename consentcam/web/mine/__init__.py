"""The customer's own pages, without an account: sign through a one-time link, and "my consent".

Every page here is public on purpose (no Flask-Login): the token in the URL is the key, and
every invalid token gets the same refusal. Pages never show the owner's menu, carry CSRF
tokens, and are rate-limited per address (Flask-Limiter).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from typing import Any

import segno
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField
from wtforms.validators import Email, Length, Optional

from consentcam.domain.types import Channel
from consentcam.models import ConsentRecord, Person
from consentcam.services import links, mail, privacy
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.services.withdrawal import WithdrawalError
from consentcam.web import db, runtime, select_locale
from consentcam.web.words import channel_in_sentence, channel_names, error_text

bp = Blueprint("mine", __name__)
log = logging.getLogger(__name__)
CHANNELS = tuple(c.value for c in Channel)

#: The limits of the customers' pages, per client address: (endpoint, which limit, methods).
LIMITED: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("mine.sign", "page", None),
    ("mine.receipt", "page", None),
    ("mine.receipt_pdf", "page", None),
    ("mine.page", "page", None),
    ("mine.withdraw", "page", None),
    ("mine.erase", "page", None),
    ("mine.copy", "page", ("GET",)),
    ("mine.copy", "code", ("POST",)),
    ("mine.send_code", "code", None),
    ("mine.new_link", "code", None),
)


def _page_limit() -> str:
    return str(current_app.config.get("CUSTOMER_RATE_LIMIT") or "30/minute;300/hour")


def _code_limit() -> str:
    return str(current_app.config.get("CODE_RATE_LIMIT") or "5/minute;20/hour")


def limit_storage(config: Any) -> str:
    """Where the counts live: RATE_LIMIT_STORAGE, else a Redis queue, else this process."""
    storage = str(config.get("RATE_LIMIT_STORAGE") or "")
    queue = str(config.get("QUEUE_URL") or "")
    if storage.startswith(("redis://", "rediss://", "memory://")):
        return storage
    if queue.startswith(("redis://", "rediss://")):
        return queue
    return "memory://"


def init_app(app: Flask) -> None:
    """Limit the customers' pages with a limiter of this app's own (Flask-Limiter)."""
    # Flask-Limiter reads RATELIMIT_ENABLED from the shared config: another limiter turned off
    # (no sign-in limit set) must not turn off the customers' pages' limits with it.
    other = app.config.pop("RATELIMIT_ENABLED", None)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=limit_storage(app.config),
        key_prefix=f"{app.config.get('QUEUE_NAME') or 'consentcam'}:customer",
        strategy="fixed-window",
        headers_enabled=False,
        enabled=True,
    )
    if other is not None:
        app.config["RATELIMIT_ENABLED"] = other
    app.extensions["customer_limiter"] = limiter
    providers = {"page": _page_limit, "code": _code_limit}
    for endpoint, which, methods in LIMITED:
        view = app.view_functions[endpoint]
        limited: Any = limiter.limit(
            providers[which],
            methods=list(methods) if methods else None,
            scope=f"{endpoint}:{which}",
        )(view)
        app.view_functions[endpoint] = limited


# --- Helpers -----------------------------------------------------------------------------------


class NoPublicAddress(RuntimeError):
    """No address others can be sent to: PUBLIC_URL is not set and any Host header is answered."""


def public_root() -> str | None:
    """The base of links that leave the app (QR codes, e-mails), or None.

    PUBLIC_URL; else this request's own address, but only when the app answers listed hosts
    alone (TRUSTED_HOSTS), so it cannot be a Host header anyone chose.
    """
    from consentcam.public_url import public_base

    base = public_base(current_app.config)
    if base:
        return base
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.url_root.rstrip("/")
    return None


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for a link someone else opens (QR code, e-mail); NoPublicAddress if none."""
    base = public_root()
    if base is None:
        raise NoPublicAddress(endpoint)
    return base + url_for(endpoint, **values)


def own_url(endpoint: str, **values: Any) -> str:
    """An absolute URL shown only to whoever asked (their receipt): their own address is fine."""
    base = public_root()
    if base is not None:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def qr_png_data_uri(url: str, scale: int = 8) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=2)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def render_mail(name: str, language: str, **context: Any) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of mail/<name>.txt and .html in ``language``."""
    with force_locale(language):
        text = render_template(f"mine/mail/{name}.txt", mail_language=language, **context)
        html = render_template(f"mine/mail/{name}.html", mail_language=language, **context)
        subject = text.splitlines()[0].removeprefix("Subject:").strip()
        body = "\n".join(text.splitlines()[1:]).strip() + "\n"
    return subject, body, html


def queue_new_link_mail(session: Any, person: Person, token: str) -> list[int]:
    """Queue the e-mail that brings a person their new personal link; the mail ids."""
    if not person.email:
        return []
    return queue_templated_mail(
        session,
        "new_link",
        select_locale(),
        to=person.email,
        person_id=person.id,
        person=person,
        my_url=external_url("mine.page", token=token),
        business=current_app.config.get("BUSINESS_NAME") or "",
    )


def queue_templated_mail(
    session: Any, name: str, language: str, *, to: str, person_id: int | None, **context: Any
) -> list[int]:
    """Render mail/<name> in ``language`` and queue it for the worker; the mail ids."""
    subject, text, html = render_mail(name, language, **context)
    queued = mail.queue_mail(
        session,
        runtime(),
        kind=name,
        to=to,
        subject=subject,
        text=text,
        html=html,
        person_id=person_id,
    )
    return [queued.id] if queued else []


def send_after_commit(ids: list[int]) -> None:
    mail.enqueue(runtime(), ids)


def owner_language() -> str:
    return str(current_app.config.get("LANGUAGE") or "en")


def notify_owner(kind: str, person: Person, **context: Any) -> list[int]:
    """Queue a notice to the owner (in the instance's language); returns the mail ids."""
    rt = runtime()
    ids = []
    try:
        person_url: str | None = external_url("people.detail", person_id=person.id)
    except NoPublicAddress:
        person_url = None  # the notice then says where to look, without a link
    for address in mail.owner_addresses(db()):
        subject, text, html = render_mail(
            f"owner_{kind}",
            owner_language(),
            person=person,
            person_url=person_url,
            business=current_app.config.get("BUSINESS_NAME") or "",
            **context,
        )
        queued = mail.queue_mail(
            db(), rt, kind=f"owner_{kind}", to=address, subject=subject, text=text, html=html
        )
        if queued is not None:
            ids.append(queued.id)
    return ids


def refused() -> Any:
    """The one answer for every link that cannot be used, whatever the reason."""
    return render_template("mine/refused.html"), 404


@bp.after_request
def _private(response: Response) -> Response:
    # The token is in the URL: never send it on as a referrer, and keep the pages out of indexes.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(429)
def _too_many(exc: Any) -> Any:
    return render_template("mine/too_many.html"), 429


def _mail_on() -> bool:
    return mail.mail_enabled(runtime().settings)


# --- Signing through a consent link -------------------------------------------------------------


class SignForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    language = HiddenField()
    form_sha256 = HiddenField()
    name = StringField("Your name", validators=[Optional(), Length(max=200)])
    minor = BooleanField("I am signing for a child under 18")
    guardian_name = StringField("Guardian's name", validators=[Optional(), Length(max=200)])
    email = EmailField("E-mail for the receipt", validators=[Optional(), Email(), Length(max=254)])
    biometric = BooleanField("Automatic face recognition")
    signature = HiddenField()


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


def _form_language() -> str:
    lang = request.values.get("language") or ""
    return lang if lang in people_service.LANGUAGES else select_locale()


@bp.route("/c/<token>", methods=["GET", "POST"])
def sign(token: str) -> Any:
    session = db()
    rt = runtime()
    try:
        link = links.open_consent_link(session, token)
    except links.LinkRefused:
        return refused()
    person = link.person
    language = _form_language()
    form = SignForm()
    version = people_service.current_form(session, rt, language)
    session.commit()
    chosen = [c for c in request.form.getlist("channels") if c in CHANNELS]
    error: str | None = None
    if request.method == "POST" and form.validate():
        try:
            if person is None and not (form.name.data or "").strip():
                raise ConsentError(_("Write your name."))
            signed = links.sign_by_link(
                session,
                rt,
                token,
                channels=chosen,
                biometric=bool(form.biometric.data),
                signature=_decode_signature(form.signature.data or ""),
                language=language,
                form_sha256=form.form_sha256.data or None,
                name=form.name.data or "",
                minor=bool(form.minor.data),
                guardian_name=form.guardian_name.data or "",
                email=form.email.data or None,
                user_agent=request.user_agent.string,
            )
        except links.LinkRefused:
            session.rollback()
            return refused()
        except ConsentError as exc:
            session.rollback()
            error = error_text(exc)
        else:
            ids = _queue_receipt(signed, language)
            session.commit()
            send_after_commit(ids)
            return redirect(
                url_for(
                    "mine.receipt",
                    token=signed.personal_token,
                    consent_id=signed.record.id,
                    sent="1" if ids else "0",
                ),
                303,
            )
    elif request.method == "POST":
        error = _("Please correct the marked fields.")
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
            business=rt.settings.get("BUSINESS_NAME") or "",
            minor=bool(person and person.is_minor),
            token=token,
        ),
        422 if error else 200,
    )


def _queue_receipt(signed: links.Signed, language: str) -> list[int]:
    person = signed.person
    if not person.email or public_root() is None:
        return []
    my_url = external_url("mine.page", token=signed.personal_token)
    return queue_templated_mail(
        db(),
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
        business=current_app.config.get("BUSINESS_NAME") or "",
    )


def _labels_in(language: str) -> dict[str, str]:
    with force_locale(language):
        return channel_names()


# --- The receipt ---------------------------------------------------------------------------------


def _own_consent(link: Any, consent_id: int) -> ConsentRecord | None:
    record = db().get(ConsentRecord, consent_id)
    if record is None or record.person_id != link.person_id:
        return None
    return record


@bp.route("/m/<token>/receipt/<int:consent_id>")
def receipt(token: str, consent_id: int) -> Any:
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    record = _own_consent(link, consent_id)
    if record is None:
        return refused()
    my_url = own_url("mine.page", token=token)
    return render_template(
        "mine/receipt.html",
        person=link.person,
        record=record,
        token=token,
        my_url=my_url,
        qr=qr_png_data_uri(my_url, scale=5),
        channel_labels=channel_names(),
        mail_on=_mail_on(),
        sent=request.args.get("sent") == "1",
        business=current_app.config.get("BUSINESS_NAME") or "",
    )


@bp.route("/m/<token>/receipt/<int:consent_id>.pdf")
def receipt_pdf(token: str, consent_id: int) -> Any:
    from consentcam.reports.receipt import receipt_pdf as make_pdf

    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    record = _own_consent(link, consent_id)
    if record is None:
        return refused()
    rt = runtime()
    try:
        signature = people_service.read_evidence(rt, record)
    except (FileNotFoundError, people_service.EvidenceTampered):
        signature = None
    version = record.form_version
    labels = channel_names()
    data = make_pdf(
        business=rt.settings.get("BUSINESS_NAME") or "",
        title=_("Receipt of your consent"),
        rows=[
            (_("Name"), link.person.name),
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
        ],
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


# --- "My consent" ------------------------------------------------------------------------------


class ConfirmForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    """CSRF only: what to do is in the URL and checked by the service."""


class CodeForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    code = StringField("Code", validators=[Optional(), Length(max=12)])


@bp.route("/m/<token>")
def page(token: str) -> Any:
    session = db()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    record = links.my_record(session, link.person)
    return render_template(
        "mine/page.html",
        record=record,
        person=link.person,
        token=token,
        channel_labels=channel_names(),
        mail_on=_mail_on(),
        form=ConfirmForm(),
        due_days=int(current_app.config.get("REMOVAL_DUE_DAYS") or 7),
    )


def _withdraw_choice() -> tuple[Any, bool]:
    """What the customer asked to withdraw: ("all" | [channel], biometric)."""
    what = request.values.get("what", "")
    if what == "all":
        return "all", False
    if what == "biometric":
        return [], True
    if what in CHANNELS:
        return [what], False
    return None, False


@bp.route("/m/<token>/withdraw", methods=["GET", "POST"])
def withdraw(token: str) -> Any:
    session = db()
    rt = runtime()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    channels, biometric = _withdraw_choice()
    if channels is None:
        return redirect(url_for("mine.page", token=token))
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        person = link.person
        try:
            result = links.withdraw_by_customer(session, rt, link, channels, biometric)
        except WithdrawalError as exc:
            flash(str(exc), "error")
            return redirect(url_for("mine.page", token=token))
        ids: list[int] = []
        if result.changed:
            ids = notify_owner(
                "withdrawal",
                person,
                channels=list(result.channels) if result.withdrawn else [],
                biometric=bool(result.biometric_withdrawn),
                tasks=len(result.tasks),
            )
        session.commit()
        send_after_commit(ids)
        flash(_withdrawal_summary(result), "success")
        return redirect(url_for("mine.page", token=token))
    if channels == "all":
        what = _("every channel")
    elif biometric:
        what = _("automatic face recognition")
    else:
        what = channel_in_sentence(channels[0])
    posts = [
        p
        for p in links.my_record(session, link.person).posts
        if channels == "all" or p.channel in (channels or [])
    ]
    return render_template(
        "mine/withdraw.html",
        person=link.person,
        token=token,
        form=form,
        what=what,
        what_code=request.values.get("what", ""),
        biometric=biometric,
        posts=posts,
        due_days=int(current_app.config.get("REMOVAL_DUE_DAYS") or 7),
    )


def _withdrawal_summary(result: Any) -> str:
    if not result.changed:
        return str(_("That was withdrawn already: nothing more to do."))
    parts = []
    if result.channels and result.withdrawn:
        if set(result.channels) == set(CHANNELS):
            where = _("every channel")
        else:
            where = ", ".join(channel_in_sentence(c) for c in result.channels)
        parts.append(_("Your consent is withdrawn for %(where)s.", where=where))
    if result.biometric_withdrawn or result.references_deleted:
        parts.append(_("Automatic face recognition has ended and your face templates are deleted."))
    if result.tasks:
        parts.append(
            ngettext(
                "%(num)d post that shows you will be taken down by %(due)s.",
                "%(num)d posts that show you will be taken down by %(due)s.",
                len(result.tasks),
                due=format_date(result.due_at, "long"),
            )
        )
    return " ".join(parts)


@bp.route("/m/<token>/code", methods=["POST"])
def send_code(token: str) -> Any:
    session = db()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mine.copy", token=token))
    if not _mail_on():
        flash(_("E-mail is off at this business: ask them for a copy of your data."), "error")
        return redirect(url_for("mine.copy", token=token))
    try:
        code = links.new_code(session, link)
    except links.LinkError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("mine.copy", token=token))
    language = select_locale()
    subject, text, html = render_mail(
        "code",
        language,
        person=link.person,
        code=code,
        minutes=links.CODE_MINUTES,
        business=current_app.config.get("BUSINESS_NAME") or "",
    )
    queued = mail.queue_mail(
        session,
        runtime(),
        kind="code",
        to=link.person.email or "",
        subject=subject,
        text=text,
        html=html,
        person_id=link.person_id,
    )
    session.commit()
    send_after_commit([queued.id] if queued else [])
    flash(_("We sent a code to your e-mail address. It is valid for 15 minutes."), "info")
    return redirect(url_for("mine.copy", token=token, sent="1"))


@bp.route("/m/<token>/copy", methods=["GET", "POST"])
def copy(token: str) -> Any:
    session = db()
    rt = runtime()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    form = CodeForm()
    error: str | None = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            links.check_code(session, link, form.code.data or "")
        except links.CodeRefused as exc:
            session.commit()  # the wrong try counts
            error = error_text(exc)
        else:
            export = privacy.export_person(session, rt, link.person)
            session.commit()
            response = Response(export.data, mimetype="application/zip")
            response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
            return response
    return (
        render_template(
            "mine/copy.html",
            person=link.person,
            token=token,
            form=form,
            send_form=ConfirmForm(),
            error=error,
            mail_on=_mail_on(),
            has_email=bool(link.person.email),
            sent=request.args.get("sent") == "1",
        ),
        422 if error else 200,
    )


@bp.route("/m/<token>/erase", methods=["GET", "POST"])
def erase(token: str) -> Any:
    session = db()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    form = ConfirmForm()
    record = links.my_record(session, link.person)
    if request.method == "POST" and form.validate_on_submit():
        person = link.person
        _request, new = links.request_erasure(session, link)
        ids = notify_owner("erasure", person, live_posts=len(record.posts)) if new else []
        session.commit()
        send_after_commit(ids)
        flash(
            _("Your request is sent. The business erases your data and tells you when it is done."),
            "success",
        )
        return redirect(url_for("mine.page", token=token))
    return render_template(
        "mine/erase.html", person=link.person, token=token, form=form, record=record
    )


@bp.route("/m/<token>/new-link", methods=["POST"])
def new_link(token: str) -> Any:
    session = db()
    try:
        link = links.open_personal_link(session, token)
    except links.LinkRefused:
        return refused()
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mine.page", token=token))
    person = link.person
    fresh = links.issue_personal_link(session, person, actor_name=links.CUSTOMER)
    ids: list[int] = []
    if person.email and public_root() is not None:
        ids = queue_new_link_mail(session, person, fresh)
    session.commit()
    send_after_commit(ids)
    flash(_("This is your new link: the old one no longer works. Save this page."), "success")
    return redirect(url_for("mine.page", token=fresh))
