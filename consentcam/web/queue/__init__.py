"""The publish queue, the hand-posting flow, what has been published, and the channel connections."""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
import sqlalchemy.orm as so
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
from flask_babel import gettext as _
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

from consentcam.domain.types import Channel
from consentcam.models import ChannelConnection, Photo, Publication, QueueItem
from consentcam.publishers.meta import DEFAULT_GRAPH_URL, graph_url_problem
from consentcam.security import parse_id
from consentcam.services import events, publishing
from consentcam.web import db, runtime, words
from consentcam.web.auth import owner_required
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
    item = db().get(QueueItem, item_id)
    if item is None:
        abort(404)
    return item


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _enqueue_publish(item_id: int) -> None:
    current_app.extensions["jobs"].enqueue("publish_queue_item", item_id)


@bp.route("/queue/")
@login_required
def index() -> Any:
    session = db()
    status = request.args.get("status", "open")
    query = sa.select(QueueItem).options(so.selectinload(QueueItem.photo))
    if status == "open":
        query = query.where(
            QueueItem.status.in_(("blocked", "ready", "scheduled", "publishing", "failed"))
        )
    elif status in publishing.STATUSES:
        query = query.where(QueueItem.status == status)
    else:
        status = "all"
    items = session.scalars(query.order_by(QueueItem.created_at.desc()).limit(200)).all()
    counts = dict(
        session.execute(
            sa.select(QueueItem.status, sa.func.count()).group_by(QueueItem.status)
        ).all()
    )
    return render_template(
        "queue/index.html",
        items=items,
        status=status,
        counts=counts,
        reasons_map={i.id: grouped_blockers(i) for i in items},
        action_form=ActionForm(),
    )


@bp.route("/queue/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    session = db()
    form = QueueForm()
    raw_id = request.values.get("photo_id", "")
    number = parse_id(raw_id)
    photo = session.get(Photo, number) if number else None
    if photo is None:
        abort(404)
    from consentcam.services.gate import decide

    verdict = decide(session, photo, [c.value for c in Channel])
    if request.method == "GET":
        form.photo_id.data = str(photo.id)
        # Tick only the channels the photo is cleared for now; a blocked one can still be ticked.
        form.channels.data = [c for c in ("instagram", "facebook") if verdict[Channel(c)].cleared]
    reasons = {
        str(channel): [
            blocker_text(entry) for entry in publishing.blocker_entries({channel: decision})
        ]
        for channel, decision in verdict.items()
        if not decision.cleared
    }
    if form.validate_on_submit():
        scheduled = None
        if form.scheduled_for.data:
            scheduled = form.scheduled_for.data.replace(
                tzinfo=_zone(form.time_zone.data)
            ).astimezone(UTC)
        try:
            item = publishing.queue_photo(
                session,
                runtime(),
                photo.id,
                form.channels.data or [],
                caption=form.caption.data or "",
                scheduled_for=scheduled,
                fit=form.fit.data or "pad",
                actor=_user(),
            )
        except publishing.QueueError as exc:
            session.rollback()
            flash(words.error_text(exc, status=_status_word), "error")
        else:
            session.commit()
            if item.status == "blocked":
                flash(
                    _(
                        "Queued, but blocked: it goes out by itself once the reasons shown are dealt with."
                    ),
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
            return redirect(url_for("queue.detail", item_id=item.id))
    return render_template(
        "queue/new.html", form=form, photo=photo, verdict=verdict, reasons=reasons
    )


@bp.route("/queue/<int:item_id>")
@login_required
def detail(item_id: int) -> Any:
    session = db()
    item = _item(item_id)
    pubs = session.scalars(
        sa.select(Publication).where(Publication.queue_item_id == item.id).order_by(Publication.id)
    ).all()
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
    published = session.scalar(
        sa.select(sa.func.count(Publication.id)).where(Publication.queue_item_id == item.id)
    )
    return jsonify(
        {"state": _progress_state(item, _manual_channels(session, item), published or 0)}
    )


@bp.post("/queue/<int:item_id>/publish")
@login_required
def publish(item_id: int) -> Any:
    session = db()
    item = _item(item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        ok = publishing.request_publish(session, runtime(), item, actor=_user())
    except publishing.QueueError as exc:
        session.rollback()
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    session.commit()
    if not ok:
        flash(_("Not published: the photo is blocked. See the reasons below."), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    _enqueue_publish(item.id)
    flash(_("Publishing started."), "info")
    return redirect(url_for("queue.detail", item_id=item_id, started=1))


@bp.post("/queue/<int:item_id>/cancel")
@login_required
def cancel(item_id: int) -> Any:
    session = db()
    item = _item(item_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        publishing.cancel(session, item, actor=_user())
    except publishing.QueueError as exc:
        session.rollback()
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    session.commit()
    flash(_("Taken off the queue."), "info")
    return redirect(url_for("queue.index"))


@bp.post("/queue/<int:item_id>/download/<channel>")
@login_required
def download(item_id: int, channel: str) -> Any:
    """The cleared copy, to post by hand (never the original).

    A POST with the form's CSRF token: the download is recorded as an event, and a GET must
    change nothing (a link preview or a prefetch would otherwise record one).
    """
    session = db()
    item = _item(item_id)
    if channel not in item.channel_list:
        abort(404)
    try:
        cleared = publishing.cleared_copy_for_manual(session, runtime(), item, channel)
    except publishing.QueueError as exc:
        session.commit()  # keep the item's new blocked status
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    events.record(
        session,
        "queue.downloaded",
        f"queue_item:{item.id}",
        {"channel": channel, "cleared_copy_sha256": cleared.sha256},
        actor=_user().email,
    )
    session.commit()
    response = send_file(
        runtime().storage.path(cleared.key),
        mimetype="image/jpeg",
        as_attachment=True,
        download_name=f"consentcam-{item.id}-{channel}.jpg",
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/queue/<int:item_id>/manual/<channel>")
@login_required
def manual(item_id: int, channel: str) -> Any:
    session = db()
    item = _item(item_id)
    form = ManualForm()
    if not form.validate_on_submit():
        flash(_("Paste the full link of the post, starting with https://"), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    try:
        publishing.record_manual_publication(
            session, runtime(), item, channel, form.url.data or "", actor=_user()
        )
    except publishing.QueueError as exc:
        session.rollback()
        flash(words.error_text(exc, status=_status_word), "error")
        return redirect(url_for("queue.detail", item_id=item_id))
    session.commit()
    flash(_("Recorded as published on %(channel)s.", channel=channel_label(channel)), "info")
    return redirect(url_for("queue.detail", item_id=item_id))


@bp.route("/published/")
@login_required
def publications() -> Any:
    session = db()
    live = request.args.get("live", "all")
    query = sa.select(Publication).options(
        so.selectinload(Publication.photo), so.selectinload(Publication.faces)
    )
    if live == "live":
        query = query.where(Publication.live.is_(True))
    elif live == "removed":
        query = query.where(Publication.live.is_(False))
    else:
        live = "all"
    rows = session.scalars(query.order_by(Publication.published_at.desc()).limit(300)).all()
    return render_template("publications/index.html", publications=rows, live=live)


@bp.route("/settings/connections", methods=["GET", "POST"])
@owner_required
def connections() -> Any:
    session = db()
    form = ConnectionForm()
    if form.validate_on_submit():
        channel = form.channel.data or "instagram"
        conn = session.scalar(
            sa.select(ChannelConnection).where(ChannelConnection.channel == channel)
        )
        if conn is None:
            conn = ChannelConnection(channel=channel)
            session.add(conn)
        conn.kind = form.kind.data or "manual"
        if conn.kind == "meta":
            if not (form.account_id.data or "").strip():
                flash(_("A Meta connection needs the account id."), "error")
                session.rollback()
                return redirect(url_for("queue.connections"))
            graph = (form.graph_url.data or "").strip() or DEFAULT_GRAPH_URL
            if graph_url_problem(graph):
                flash(_("The Graph API address must start with https://"), "error")
                session.rollback()
                return redirect(url_for("queue.connections"))
            conn.account_id = (form.account_id.data or "").strip()
            conn.graph_url = graph
            if form.access_token.data:
                conn.access_token_enc = runtime().vault.encrypt(
                    form.access_token.data.strip().encode()
                )
            if conn.access_token_enc is None:
                flash(_("A Meta connection needs an access token."), "error")
                session.rollback()
                return redirect(url_for("queue.connections"))
        conn.can_delete = bool(form.can_delete.data) and conn.kind == "meta"
        session.flush()
        events.record(
            session,
            "connection.saved",
            f"connection:{channel}",
            {
                "kind": conn.kind,
                "account_id": conn.account_id if conn.kind == "meta" else None,
                "graph_url": conn.graph_url if conn.kind == "meta" else None,
                "can_delete": conn.can_delete,
                "token_changed": bool(form.access_token.data),
            },
            actor=_user().email,
        )
        session.commit()
        flash(_("Connection saved."), "info")
        return redirect(url_for("queue.connections"))
    rows = {c.channel: c for c in session.scalars(sa.select(ChannelConnection)).all()}
    return render_template(
        "queue/connections.html", form=form, connections=rows, default_graph=DEFAULT_GRAPH_URL
    )
