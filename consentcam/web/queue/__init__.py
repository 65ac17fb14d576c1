"""The publish queue, the hand-posting flow, what has been published, and the channel connections."""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import pgettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, Optional

from consentcam.domain.gate import GateDecision
from consentcam.domain.types import Channel
from consentcam.models import QueueItem
from consentcam.publishers.meta import DEFAULT_GRAPH_URL
from consentcam.security import parse_id
from consentcam.services import gate, listings, publishing
from consentcam.web import db, runtime, transaction, words
from consentcam.web.auth import owner_required
from consentcam.web.lookups import or_404
from consentcam.web.translate import gettext as _
from consentcam.web.words import channel_name as channel_label

bp = Blueprint("queue", __name__, static_folder="static", static_url_path="/static/queue")

CHANNEL_CHOICES = [SelectChoice(c.value, c.value) for c in Channel]
DEFAULT_ZONE = "Europe/Stockholm"  # the first studio's; the browser sends its own zone


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class QueueForm(FlaskForm):
    photo_id = HiddenField(validators=[DataRequired()])
    channels = MultiCheckboxField(
        "Channels", choices=CHANNEL_CHOICES, default=["instagram", "facebook"]
    )
    caption = TextAreaField("Caption", validators=[Length(max=publishing.CAPTION_MAX)])
    scheduled_for = DateTimeLocalField("Publish at (optional)", validators=[Optional()])
    time_zone = HiddenField(default=DEFAULT_ZONE)
    fit = RadioField(
        "Shape", choices=[SelectChoice("pad", "pad"), SelectChoice("crop", "crop")], default="pad"
    )


class ManualForm(FlaskForm):
    url = URLField(
        "Link to the post", validators=[DataRequired(), URL(require_tld=False), Length(max=500)]
    )


class ActionForm(FlaskForm):
    """Buttons that change state carry a CSRF token and nothing else."""


class ConnectionForm(FlaskForm):
    channel = SelectField(
        "Channel",
        choices=[SelectChoice("instagram", "Instagram"), SelectChoice("facebook", "Facebook")],
    )
    kind = RadioField(
        "How",
        choices=[SelectChoice("manual", "manual"), SelectChoice("meta", "meta")],
        default="manual",
    )
    account_id = StringField("Account id", validators=[Optional(), Length(max=100)])
    access_token = PasswordField("Access token", validators=[Optional(), Length(max=1000)])
    graph_url = StringField("Graph API address", validators=[Optional(), Length(max=300)])
    can_delete = BooleanField("This connection may delete posts")


def status_label(status: str) -> str:
    return {
        "blocked": pgettext("queue status", "Blocked"),
        "ready": _("Ready"),
        "scheduled": _("Scheduled"),
        "publishing": _("Publishing"),
        "published": _("Published"),
        "failed": _("Failed"),
        "cancelled": _("Cancelled"),
    }.get(status, status)


def _status_word(status: Any) -> str:
    """A status inside a sentence ("this item is already cancelled")."""
    return status_label(str(status)).lower()


def blocker_text(entry: dict[str, Any]) -> str:
    """One stored gate reason in the reader's language (the stored English message is the fallback)."""
    channel = str(entry.get("channel") or "")
    if entry.get("code") == "publish_failed":
        return _(
            "%(channel)s: %(message)s",
            channel=channel_label(channel),
            message=entry.get("message", ""),
        )
    return words.blocker_text(
        str(entry.get("code")),
        entry.get("params") or {},
        face=entry.get("face"),
        channel=channel,
        fallback=str(entry.get("message", "")),
    )


def grouped_blockers(item: QueueItem) -> list[tuple[str, list[str]]]:
    """The reasons, worded, with the channels each applies to (one line per face, not per channel)."""
    lines: dict[str, list[str]] = {}
    for entry in publishing.blockers_of(item):
        channels = lines.setdefault(blocker_text(entry), [])
        channel = str(entry.get("channel") or "")
        if channel and channel not in channels:
            channels.append(channel)
    return list(lines.items())


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "queue_status_label": status_label,
    }


def _user() -> Any:
    return current_user._get_current_object()


def _item(item_id: int) -> QueueItem:
    return or_404(listings.queue_item(db(), item_id))


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


@bp.route("/queue/")
@login_required
def index() -> Any:
    page = publishing.queue_page(db(), request.args.get("status", "open"))
    return render_template(
        "queue/index.html",
        items=page.items,
        status=page.status,
        counts=page.counts,
        reasons_map={i.id: grouped_blockers(i) for i in page.items},
        action_form=ActionForm(),
    )


@bp.route("/queue/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    session = db()
    form = QueueForm()
    number = parse_id(request.values.get("photo_id", ""))
    photo = or_404(publishing.photo_to_queue(session, number) if number else None)
    verdict = gate.decide(session, photo, [c.value for c in Channel])
    if request.method == "GET":
        form.photo_id.data = str(photo.id)
        # Tick only the channels the photo is cleared for now; a blocked one can still be ticked.
        form.channels.data = [c for c in ("instagram", "facebook") if verdict[Channel(c)].cleared]
    if form.validate_on_submit():
        item = _queue_from_form(form, photo.id)
        if item is not None:
            _flash_queued(item)
            return redirect(url_for("queue.detail", item_id=item.id))
    return render_template(
        "queue/new.html", form=form, photo=photo, verdict=verdict, reasons=_reasons(verdict)
    )


def _reasons(verdict: dict[Channel, GateDecision]) -> dict[str, list[str]]:
    """The gate's reasons, worded, for each channel it refuses."""
    return {
        str(channel): [
            blocker_text(entry) for entry in publishing.blocker_entries({channel: decision})
        ]
        for channel, decision in verdict.items()
        if not decision.cleared
    }


def _queue_from_form(form: QueueForm, photo_id: int) -> QueueItem | None:
    """Queue the photo as the form asks; None (the reason flashed) when the queue refuses."""
    scheduled = None
    if form.scheduled_for.data:
        scheduled = form.scheduled_for.data.replace(tzinfo=_zone(form.time_zone.data)).astimezone(
            UTC
        )
    try:
        with transaction() as session:
            return publishing.queue_photo(
                session,
                runtime(),
                photo_id,
                form.channels.data or [],
                caption=form.caption.data or "",
                scheduled_for=scheduled,
                fit=form.fit.data or "pad",
                actor=_user(),
            )
    except publishing.QueueError as exc:
        flash(words.error_text(exc, status=_status_word), "error")
        return None


def _flash_queued(item: QueueItem) -> None:
    if item.status == "blocked":
        flash(
            _("Queued, but blocked: it goes out by itself once the reasons shown are dealt with."),
            "warning",
        )
    elif publishing.blockers_of(item):
        flash(
            _(
                "Queued. It goes out on the cleared channels; the others wait until "
                "nothing blocks them any more."
            ),
            "warning",
        )
    else:
        flash(_("Queued."), "info")


@bp.route("/queue/<int:item_id>")
@login_required
def detail(item_id: int) -> Any:
    session = db()
    item = _item(item_id)
    pubs = publishing.publications_of(session, item)
    manual = _manual_channels(session, item)
    # After a change the worker re-checks the queue; until it has, say so instead of showing
    # reasons that may no longer hold (and ask it to do this photo now).
    checking = publishing.verdict_is_stale(session, item)
    if checking:
        current_app.extensions["jobs"].enqueue("recheck_photos", [item.photo_id])
    return render_template(
        "queue/detail.html",
        item=item,
        publications={p.channel: p for p in pubs},
        manual_channels=manual,
        reasons=grouped_blockers(item),
        checking=checking,
        # Polled while the worker has the post in hand, right after "Publish now" until the
        # worker takes it up (the item is still "ready" then), and while the gate re-checks.
        progress_state=_progress_state(item, manual, len(pubs))
        if checking
        or item.status == "publishing"
        or (item.status == "ready" and request.args.get("started"))
        else None,
        action_form=ActionForm(),
        manual_form=ManualForm(),
    )


def _manual_channels(session: Any, item: QueueItem) -> list[str]:
    if item.status != "publishing":
        return []
    return publishing.pending_manual_channels(session, item)


def _progress_state(item: QueueItem, manual: list[str], published: int) -> str:
    """What the item page shows for a post being published or re-checked: changes when the
    worker moves on (its status, what is left to post by hand, or the gate's reasons)."""
    reasons = hashlib.sha256((item.blockers or "").encode("utf-8")).hexdigest()[:12]
    return f"{item.status}:{','.join(manual)}:{published}:{reasons}"


@bp.route("/queue/<int:item_id>/progress")
@login_required
def progress(item_id: int) -> Any:
    """The item's publishing state, for its page to poll while the worker publishes."""
    session = db()
    item = _item(item_id)
    published = publishing.publication_count(session, item)
    return jsonify({"state": _progress_state(item, _manual_channels(session, item), published)})


@bp.post("/queue/<int:item_id>/publish")
@login_required
def publish(item_id: int) -> Any:
    item = _item(item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            # The publishing job is queued once this is committed.
            ok = publishing.publish_now(session, runtime(), item, actor=_user())
    except publishing.QueueError as exc:
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    if not ok:
        flash(_("Not published: the photo is blocked. See the reasons below."), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    flash(_("Publishing started."), "info")
    return redirect(url_for("queue.detail", item_id=item_id, started=1))


@bp.post("/queue/<int:item_id>/cancel")
@login_required
def cancel(item_id: int) -> Any:
    item = _item(item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with transaction() as session:
            publishing.cancel(session, item, actor=_user())
    except publishing.QueueError as exc:
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    flash(_("Taken off the queue."), "info")
    return redirect(url_for("queue.index"))


@bp.post("/queue/<int:item_id>/download/<channel>")
@login_required
def download(item_id: int, channel: str) -> Any:
    """The cleared copy, to post by hand (never the original).

    A POST with the form's CSRF token: the download is recorded as an event, and a GET must
    change nothing (a link preview or a prefetch would otherwise record one).
    """
    item = _item(item_id)
    if channel not in item.channel_list:
        abort(404)
    # Committed either way: a refusal keeps the item's new blocked status.
    with transaction() as session:
        cleared = publishing.download_cleared_copy(session, runtime(), item, channel, _user())
    if isinstance(cleared, publishing.QueueError):
        flash(words.error_text(cleared, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    response = send_file(
        runtime().storage.path(cleared.key),
        mimetype="image/jpeg",
        as_attachment=True,
        download_name=f"consentcam-{item_id}-{channel}.jpg",
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/queue/<int:item_id>/manual/<channel>")
@login_required
def manual(item_id: int, channel: str) -> Any:
    item = _item(item_id)
    form = ManualForm()
    if not form.validate_on_submit():
        flash(_("Paste the full link of the post, starting with https://"), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    try:
        with transaction() as session:
            publishing.record_manual_publication(
                session, runtime(), item, channel, form.url.data or "", actor=_user()
            )
    except publishing.QueueError as exc:
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    flash(_("Recorded as published on %(channel)s.", channel=channel_label(channel)), "info")
    return redirect(url_for("queue.detail", item_id=item_id))


@bp.route("/published/")
@login_required
def publications() -> Any:
    rows, live = publishing.publications_page(db(), request.args.get("live", "all"))
    return render_template("publications/index.html", publications=rows, live=live)


@bp.route("/settings/connections", methods=["GET", "POST"])
@owner_required
def connections() -> Any:
    form = ConnectionForm()
    if form.validate_on_submit():
        choice = publishing.ConnectionChoice(
            channel=form.channel.data or "instagram",
            kind=form.kind.data or "manual",
            account_id=form.account_id.data or "",
            access_token=form.access_token.data or "",
            graph_url=form.graph_url.data or "",
            can_delete=bool(form.can_delete.data),
        )
        try:
            with transaction() as session:
                publishing.save_connection(session, runtime(), choice, _user())
        except publishing.ConnectionSetupError as exc:
            flash(words.error_text(exc), "error")
        else:
            flash(_("Connection saved."), "info")
        return redirect(url_for("queue.connections"))
    return render_template(
        "queue/connections.html",
        form=form,
        connections=publishing.connections_by_channel(db()),
        default_graph=DEFAULT_GRAPH_URL,
    )
