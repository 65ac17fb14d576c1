"""The customer's own page ("my consent"): see it, withdraw, get a copy, ask for erasure."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date, ngettext
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from consentcam.services import links, privacy
from consentcam.services.withdrawal import WithdrawalError, WithdrawalResult
from consentcam.web import db, runtime, select_locale, transaction
from consentcam.web.mine import CHANNELS, bp, notify_owner, queue_new_link_mail, refused
from consentcam.web.outgoing import business_name, mail_on, public_root, queue_templated_mail
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_in_sentence, channel_names, error_text


class ConfirmForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    """CSRF only: what to do is in the URL and checked by the service."""


class CodeForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    code = StringField("Code", validators=[Optional(), Length(max=12)])


def _due_days() -> int:
    return int(current_app.config.get("REMOVAL_DUE_DAYS") or 7)


@bp.route("/m/<token>")
def page(token: str) -> Any:
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    record = links.my_record(db(), link.person)
    return render_template(
        "mine/page.html",
        record=record,
        person=link.person,
        token=token,
        channel_labels=channel_names(),
        mail_on=mail_on(),
        form=ConfirmForm(),
        due_days=_due_days(),
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
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    channels, biometric = _withdraw_choice()
    if channels is None:
        return redirect(url_for("mine.page", token=token))
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _withdraw(token, link, channels, biometric)
    if channels == "all":
        what = _("every channel")
    elif biometric:
        what = _("automatic face recognition")
    else:
        what = channel_in_sentence(channels[0])
    posts = [
        p
        for p in links.my_record(db(), link.person).posts
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
        due_days=_due_days(),
    )


def _withdraw(token: str, link: Any, channels: Any, biometric: bool) -> Any:
    """The customer's withdrawal and the owner's notice, in one transaction."""
    person = link.person
    try:
        with transaction() as session:
            result = links.withdraw_by_customer(session, runtime(), link, channels, biometric)
            if result.changed:
                notify_owner(
                    session,
                    "withdrawal",
                    person,
                    channels=list(result.channels) if result.withdrawn else [],
                    biometric=bool(result.biometric_withdrawn),
                    tasks=len(result.tasks),
                )
    except WithdrawalError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("mine.page", token=token))
    flash(_withdrawal_summary(result), "success")
    return redirect(url_for("mine.page", token=token))


def _withdrawal_summary(result: WithdrawalResult) -> str:
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
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mine.copy", token=token))
    if not mail_on():
        flash(_("E-mail is off at this business: ask them for a copy of your data."), "error")
        return redirect(url_for("mine.copy", token=token))
    try:
        with transaction() as session:
            code = links.new_code(session, link)
            queue_templated_mail(
                session,
                "code",
                select_locale(),
                to=link.person.email or "",
                person_id=link.person_id,
                person=link.person,
                code=code,
                minutes=links.CODE_MINUTES,
                business=business_name(),
            )
    except links.LinkError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("mine.copy", token=token))
    flash(_("We sent a code to your e-mail address. It is valid for 15 minutes."), "info")
    return redirect(url_for("mine.copy", token=token, sent="1"))


@bp.route("/m/<token>/copy", methods=["GET", "POST"])
def copy(token: str) -> Any:
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    form = CodeForm()
    error: str | None = None
    if request.method == "POST" and form.validate_on_submit():
        export, error = _copy(link, form.code.data or "")
        if export is not None:
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
            mail_on=mail_on(),
            has_email=bool(link.person.email),
            sent=request.args.get("sent") == "1",
        ),
        422 if error else 200,
    )


def _copy(link: Any, code: str) -> tuple[privacy.Export | None, str | None]:
    """Check the code and make the data copy: (the copy, None) or (None, why not).

    Either way the transaction commits: a wrong try counts.
    """
    with transaction() as session:
        try:
            links.check_code(session, link, code)
        except links.CodeRefused as exc:
            return None, error_text(exc)
        return privacy.export_person(session, runtime(), link.person), None


@bp.route("/m/<token>/erase", methods=["GET", "POST"])
def erase(token: str) -> Any:
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    form = ConfirmForm()
    record = links.my_record(db(), link.person)
    if request.method == "POST" and form.validate_on_submit():
        person = link.person
        with transaction() as session:
            _request, new = links.request_erasure(session, link)
            if new:
                notify_owner(session, "erasure", person, live_posts=len(record.posts))
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
    try:
        link = links.open_personal_link(db(), token)
    except links.LinkRefused:
        return refused()
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mine.page", token=token))
    person = link.person
    with transaction() as session:
        fresh = links.issue_personal_link(session, person, actor_name=links.CUSTOMER)
        if person.email and public_root() is not None:
            queue_new_link_mail(session, person, fresh)
    flash(_("This is your new link: the old one no longer works. Save this page."), "success")
    return redirect(url_for("mine.page", token=fresh))
