"""Posting by hand: the cleared copy to download, and the post's link pasted back."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import sqlalchemy.orm as so

from consentcam.domain.types import Channel
from consentcam.models import Publication, QueueItem, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.gate import decide_many
from consentcam.services.publishing.record import finish_status, record_publication
from consentcam.services.publishing.verdicts import (
    QueueError,
    apply_verdict,
    blocker_entries,
    load_photos,
    parse_channels,
    published_channels,
    reason_summary,
)
from consentcam.wording import N_

if TYPE_CHECKING:
    from consentcam.services.cleared import ClearedCopy

#: Where a post on each channel lives: the link pasted back must be on one of these hosts.
POST_HOSTS: dict[str, tuple[str, ...]] = {
    "instagram": ("instagram.com",),
    "facebook": ("facebook.com", "fb.com", "fb.me"),
}


def post_url_problem(channel: str, url: str) -> QueueError | None:
    """Why ``url`` cannot be the link of a post on ``channel``, or None.

    The link is shown to the owner and in audits as "the post": it must be an https address on
    the channel's own site (instagram.com for Instagram; facebook.com or fb.com for Facebook), so
    a mistyped or planted link to another site is refused with a clear message.
    """
    if (
        not url.startswith("https://")
        or len(url) > 500
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        return QueueError(N_("paste the full link of the post, starting with https://"))
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return QueueError(N_("paste the full link of the post, starting with https://"))
    name = str(getattr(channel, "value", channel))
    allowed = POST_HOSTS.get(name)
    if allowed is None:
        return None
    if (
        parts.username
        or parts.password
        or not any(host == h or host.endswith("." + h) for h in allowed)
    ):
        return QueueError(
            N_("a %(channel)s post's link must be on %(hosts)s"),
            channel=name.capitalize(),
            hosts=" / ".join(allowed),
        )
    return None


def cleared_copy_for_manual(
    session: so.Session, rt: Runtime, item: QueueItem, channel: str
) -> ClearedCopy:
    """Render the cleared copy the owner posts by hand; refused when the gate blocks the channel.

    When the gate refuses, the item is blocked with the new reasons (in the caller's unit of
    work, which should keep that change) and QueueError says why.
    """
    from consentcam.services.cleared import make_cleared_copy

    if channel not in item.channel_list:
        raise QueueError(N_("this item is not queued for %(channel)s"), channel=channel)
    if item.status in ("cancelled", "blocked"):
        raise QueueError(N_("this item is %(status)s"), status=item.status)
    photo = load_photos(session, [item.photo_id])[item.photo_id]
    decision = decide_many(session, [photo], [channel], utcnow())[photo.id][Channel(channel)]
    if not decision.cleared:
        apply_verdict(session, item, {Channel(channel): decision}, utcnow(), "gate")
        raise QueueError(
            "the gate no longer clears this photo: "
            + " ".join(b.message for b in decision.blockers)
        )
    return make_cleared_copy(rt, photo, item.fit)


def download_cleared_copy(
    session: so.Session, rt: Runtime, item: QueueItem, channel: str, actor: User
) -> ClearedCopy | QueueError:
    """The cleared copy handed to the owner to post by hand, with its `queue.downloaded` event;
    or, when it is refused, why (the item then keeps the gate's new reasons: commit either way).
    """
    try:
        cleared = cleared_copy_for_manual(session, rt, item, channel)
    except QueueError as exc:
        return exc
    events.record(
        session,
        "queue.downloaded",
        f"queue_item:{item.id}",
        {"channel": channel, "cleared_copy_sha256": cleared.sha256},
        actor=actor.email,
    )
    return cleared


def _check_manual_post(session: so.Session, item: QueueItem, channel: str, url: str) -> str:
    """The pasted link, tidied; refuses a link off the channel's site or a post already known."""
    url = (url or "").strip()
    problem = post_url_problem(channel, url)
    if problem:
        raise problem
    if channel not in item.channel_list:
        raise QueueError(N_("this item is not queued for %(channel)s"), channel=channel)
    if item.status in ("cancelled", "published"):
        raise QueueError(N_("this item is already %(status)s"), status=item.status)
    if channel in published_channels(session, item):
        raise QueueError(
            N_("the %(channel)s post of this item is already recorded"), channel=channel
        )
    return url


def record_manual_publication(
    session: so.Session,
    rt: Runtime,
    item: QueueItem,
    channel: str,
    url: str,
    actor: User | None = None,
) -> Publication:
    """Record a post the owner made by hand, once she pastes its link back (not before).

    The gate runs once more; the post is recorded even if consent changed in the meantime (it is
    out there, and the withdrawal flow must see it), but the snapshot then lacks the uncovered
    faces and the event says so.
    """
    from consentcam.services.cleared import make_cleared_copy

    channel = parse_channels(channel)[0] if isinstance(channel, str) else channel
    url = _check_manual_post(session, item, channel, url)
    photo = load_photos(session, [item.photo_id])[item.photo_id]
    at = utcnow()
    decision = decide_many(session, [photo], [channel], at)[photo.id][Channel(channel)]
    cleared = make_cleared_copy(rt, photo, item.fit)
    publication = record_publication(
        session,
        item,
        photo,
        decision,
        publisher="manual",
        external_id=None,
        url=url,
        cleared_key=cleared.key,
        cleared_sha256=cleared.sha256,
        actor=actor,
        at=at,
    )
    if decision.blockers:
        events.record(
            session,
            "publication.uncovered",
            f"publication:{publication.id}",
            {"reasons": reason_summary(blocker_entries({decision.channel: decision}))},
            actor=_actor(actor),
        )
    finish_status(session, item)
    return publication
