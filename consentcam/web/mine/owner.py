"""The owner's side of customer links: make a consent link (QR code), follow it, manage requests."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, Length, Optional

from consentcam.models import ConsentLink, Person
from consentcam.services import links, listings, mail
from consentcam.web import db, runtime, select_locale, transaction
from consentcam.web.auth import owner_required
from consentcam.web.lookups import or_404
from consentcam.web.mine import queue_new_link_mail
from consentcam.web.outgoing import (
    mail_on,
    make_consent_link,
    public_root,
    qr_png_data_uri,
)
from consentcam.web.translate import gettext as _
from consentcam.web.words import error_text

bp = Blueprint("links", __name__)


def _no_address() -> str:
    return str(
        _(
            "Set PUBLIC_URL (the address phones reach this app at) before making links: "
            "a link must not take its address from the browser's request."
        )
    )


class LinkForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    language = SelectField(
        "Language of the form",
        choices=[SelectChoice("sv", "Svenska"), SelectChoice("en", "English")],
    )
    email = EmailField(
        "Send the link to this e-mail address",
        validators=[Optional(), Email(), Length(max=254)],
    )


class ConfirmForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    pass


def _user() -> Any:
    return current_user._get_current_object()


def _person(person_id: int) -> Person:
    return or_404(listings.person(db(), person_id))


@bp.route("/consent-links/new", methods=["GET", "POST"])
@bp.route("/people/<int:person_id>/consent-link", methods=["GET", "POST"])
@owner_required
def new(person_id: int | None = None) -> Any:
    person = _person(person_id) if person_id is not None else None
    form = LinkForm()
    if request.method == "GET":
        form.language.data = select_locale()
        form.email.data = ""
    if form.validate_on_submit() and public_root() is None:
        flash(_no_address(), "error")
    elif form.validate_on_submit():
        made = _make_link(person, form)
        if made is not None:
            return made
    return render_template(
        "links/new.html",
        form=form,
        person=person,
        mail_on=mail_on(),
        minutes=links.link_minutes(runtime()),
        no_address=_no_address() if public_root() is None else None,
    )


def _make_link(person: Person | None, form: LinkForm) -> Any:
    """Make the link (and queue its e-mail) in one transaction; its QR page, or None if refused."""
    try:
        with transaction() as session:
            made = make_consent_link(
                session,
                person,
                language=form.language.data or "sv",
                email=form.email.data or None,
                actor=_user(),
            )
    except links.LinkError as exc:
        flash(error_text(exc), "error")
        return None
    # The token exists only in this answer: the QR page is rendered, not redirected to.
    return render_template(
        "links/show.html",
        link=made.link,
        person=person,
        url=made.url,
        qr=qr_png_data_uri(made.url, scale=10),
        mail_on=mail_on(),
        emailed=bool(made.mail_ids),
        state="waiting",
    )


def _link(link_id: int) -> ConsentLink:
    return or_404(listings.consent_link(db(), link_id))


def state_of(link: ConsentLink) -> dict[str, Any]:
    state = links.link_state(link)
    person = link.person
    out: dict[str, Any] = {"id": link.id, "state": state, "expires_at": link.expires_at.isoformat()}
    if state == "used" and person is not None and person.erased_at is None:
        out["person_name"] = person.name
        out["person_url"] = url_for("people.detail", person_id=person.id)
        out["message"] = _("%(name)s has signed. The consent is recorded.", name=person.name)
    elif state == "expired":
        out["message"] = _("The link expired before anyone signed. Make a new one.")
    else:
        out["message"] = _("Waiting for the customer to sign…")
    return out


@bp.route("/consent-links/<int:link_id>")
@owner_required
def show(link_id: int) -> Any:
    link = _link(link_id)
    return render_template(
        "links/show.html",
        link=link,
        person=link.person,
        url=None,
        qr=None,
        mail_on=mail_on(),
        emailed=False,
        state=links.link_state(link),
    )


@bp.route("/consent-links/<int:link_id>/state")
@owner_required
def state(link_id: int) -> Any:
    return jsonify(state_of(_link(link_id)))


@bp.route("/people/<int:person_id>/personal-link/revoke", methods=["POST"])
@owner_required
def revoke(person_id: int) -> Any:
    person = _person(person_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        ended = links.revoke_personal_links(session, person, actor=_user())
    if ended:
        flash(_("The personal link of %(name)s no longer works.", name=person.name), "info")
    return redirect(url_for("people.detail", person_id=person.id))


@bp.route("/people/<int:person_id>/personal-link/new", methods=["POST"])
@owner_required
def replace(person_id: int) -> Any:
    """Give the person a new personal link by e-mail (the old one stops working)."""
    person = _person(person_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if public_root() is None:
        flash(_no_address(), "error")
        return redirect(url_for("people.detail", person_id=person.id))
    if not person.email or not mail_on():
        flash(
            _("A new personal link is sent by e-mail: add an e-mail address and turn e-mail on."),
            "error",
        )
        return redirect(url_for("people.detail", person_id=person.id))
    with transaction() as session:
        token = links.issue_personal_link(session, person, actor_name=_user().email)
        queue_new_link_mail(session, person, token)
    flash(_("A new personal link was sent to %(email)s.", email=person.email), "info")
    return redirect(url_for("people.detail", person_id=person.id))


@bp.route("/customer-requests/<int:request_id>/done", methods=["POST"])
@owner_required
def request_done(request_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        links.close_request(session, request_id, _user())
    return redirect(url_for("dashboard.index"))


@bp.route("/mail/<int:mail_id>/retry", methods=["POST"])
@owner_required
def mail_retry(mail_id: int) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        queued = mail.retry_failed(session, mail_id)
    if queued is not None:
        flash(_("The e-mail is queued again."), "info")
    return redirect(url_for("dashboard.index"))


def person_links(person_id: int) -> dict[str, Any]:
    """What a person's page shows about their links (called from the template)."""
    session = db()
    personal = links.active_personal_link(session, person_id)
    return {
        "personal": personal,
        "mail_on": mail_on(),
    }


def customer_notices() -> dict[str, Any]:
    """The dashboard's customer requests and failed e-mails (a few small queries)."""
    session = db()
    total, requests = links.open_requests(session, limit=10)
    failed_total, failed = mail.failed_mails(session)
    return {
        "requests_total": total,
        "requests": requests,
        "failed_total": failed_total,
        "failed": failed,
        "mail_on": mail_on(),
    }


def init_app(app: Any) -> None:
    app.jinja_env.globals["customer_person_links"] = person_links
    app.jinja_env.globals["customer_notices"] = customer_notices
