"""Withdrawing consent: one form for the owner, as easy as giving it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField

from consentcam.domain.types import Channel
from consentcam.models import Person
from consentcam.security import parse_id
from consentcam.services import listings, withdrawal
from consentcam.services.withdrawal import WithdrawalResult
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_in_sentence as channel_label
from consentcam.web.words import error_text

bp = Blueprint("withdrawals", __name__)


class WithdrawForm(FlaskForm):
    """CSRF and the two switches; the channel boxes are read as a list and checked by the service."""

    everything = BooleanField("Every channel")
    biometric = BooleanField("Automatic face recognition too (delete their reference faces)")


def summary(result: WithdrawalResult) -> str:
    """Say in one paragraph what the withdrawal did, the way the owner will read it."""
    if set(result.channels) == {c.value for c in Channel}:
        where = _("every channel")
    else:
        where = ", ".join(channel_label(c) for c in result.channels)
    if not result.changed:
        return _(
            "Nothing left to change: this was all withdrawn before and every post "
            "showing them already has a removal task."
        )
    parts = [_("Withdrawn for %(where)s.", where=where)] if result.channels else []
    if result.biometric_withdrawn or result.references_deleted or result.face_templates_deleted:
        parts.append(_("Automatic recognition ended: their face templates are deleted."))
    blocked = len(result.blocked_queue_item_ids)
    parts.append(ngettext("%(num)d queued post blocked.", "%(num)d queued posts blocked.", blocked))
    total = len(result.tasks)
    if not result.channels:
        return " ".join(parts)
    if total:
        due = format_date(result.due_at, "medium") if result.due_at else ""
        auto = len(result.api_tasks)
        manual = len(result.manual_tasks)
        text = ngettext(
            "%(num)d post must come down by %(due)s:",
            "%(num)d posts must come down by %(due)s:",
            total,
            due=due,
        )
        bits = []
        if auto:
            bits.append(
                ngettext(
                    "%(num)d is being deleted automatically",
                    "%(num)d are being deleted automatically",
                    auto,
                )
            )
        if manual:
            bits.append(
                ngettext(
                    "%(num)d needs you (links below)", "%(num)d need you (links below)", manual
                )
            )
        parts.append(text + " " + ", ".join(bits) + ".")
    else:
        parts.append(_("No live post shows them there."))
    return " ".join(parts)


@bp.route("/withdrawals/new", methods=["GET", "POST"])
@bp.route("/people/<int:person_id>/withdraw", methods=["GET", "POST"])
@owner_required
def new(person_id: int | None = None) -> Any:
    if person_id is None:
        person_id = parse_id(request.values.get("person_id", ""))
    person = listings.person(db(), person_id) if person_id else None
    if person_id and person is None:
        abort(404)
    if person is None:
        people = withdrawal.people_to_choose(db())
        return render_template("withdrawals/choose.html", people=people)
    form = WithdrawForm()
    if form.validate_on_submit():
        done = _withdraw(person, form)
        if done is not None:
            flash(summary(done), "success")
            return redirect(url_for("removals.index", person_id=person.id, status="open"))
    standing, biometric_active = withdrawal.standing_consent(db(), person)
    chosen = request.form.getlist("channels") if request.method == "POST" else []
    return render_template(
        "withdrawals/new.html",
        person=person,
        form=form,
        chosen=chosen,
        standing=standing,
        biometric_active=biometric_active,
        all_channels=[c.value for c in Channel],
    )


def _withdraw(person: Person, form: WithdrawForm) -> WithdrawalResult | None:
    """Carry out the form's withdrawal in one transaction; None (with a message) if refused."""
    channels: Any = "all" if form.everything.data else request.form.getlist("channels")
    if not channels and not form.biometric.data:
        flash(_("Choose the channels to withdraw, or every channel."), "error")
        return None
    try:
        with transaction() as session:
            return withdrawal.withdraw_consent(
                session,
                runtime(),
                person,
                channels,
                bool(form.biometric.data),
                current_user._get_current_object(),
            )
    except withdrawal.WithdrawalError as exc:
        flash(error_text(exc), "error")
        return None
