"""The publish queue: queue a photo, keep its gate verdict current, publish it, record what went out.

Statuses of a queue item:
  blocked     the gate refuses every channel still to publish (reasons in `blockers`)
  ready       cleared for at least one channel still to publish; waits for "publish now" (or its
              time, if it has one that has passed). The reasons of channels still refused are
              in `blockers`: each channel goes out when it is cleared, the others wait.
  scheduled   cleared, with a time in the future; published automatically when it comes
  publishing  being published, or waiting for the owner to post it by hand and paste the link
  published   every channel has a Publication
  failed      a channel refused for good (reason in `blockers`); "publish now" tries again
  cancelled   the owner took it off the queue

Other services call `recheck_queue(session, rt, photo_ids)` after a change to consent, faces or
supplier permissions, so blocked items unblock (and ready items block) at once; a periodic job
does the same every minute as a safety net.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.domain import vocabulary
from consentcam.domain.gate import GateDecision
from consentcam.domain.types import Channel, QueueStatus
from consentcam.models import (
    Photo,
    Publication,
    PublicationFace,
    PublicLink,
    QueueItem,
    User,
    utcnow,
)
from consentcam.publishers.base import PublisherError, PublishRequest
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.gate import decide_many
from consentcam.uow import later, unit_of_work
from consentcam.wording import N_, WordedError

if TYPE_CHECKING:
    from consentcam.jobs import Jobs

log = logging.getLogger(__name__)

STATUSES = ("blocked", "ready", "scheduled", "publishing", "published", "failed", "cancelled")
# Items whose gate verdict can still change the status.
OPEN_STATUSES = ("blocked", "ready", "scheduled")
FITS = ("pad", "crop")
CAPTION_MAX = 2200  # Instagram's caption limit; Facebook allows more
PUBLIC_LINK_TTL = timedelta(hours=1)
PUBLISH_FAILED = "publish_failed"


class QueueError(WordedError, ValueError):
    """A request the queue cannot take, worded for the owner."""


@dataclass(frozen=True)
class PublishOutcome:
    status: str
    publications: tuple[int, ...] = ()
    message: str = ""


def parse_channels(values: Iterable[str] | str) -> list[str]:
    """Channel names in a stable order; refuses unknown names and an empty choice."""
    chosen = vocabulary.parse_channels(values, QueueError)
    if not chosen:
        raise QueueError(N_("choose at least one channel"))
    return [c.value for c in chosen]


def blockers_of(item: QueueItem) -> list[dict[str, Any]]:
    if not item.blockers:
        return []
    try:
        data = json.loads(item.blockers)
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def blocker_entries(decisions: dict[Channel, GateDecision]) -> list[dict[str, Any]]:
    """The gate's reasons for every channel as plain JSON (one entry per face and channel)."""
    out: list[dict[str, Any]] = []
    for channel, decision in decisions.items():
        for b in decision.blockers:
            out.append(
                {
                    "code": str(b.code),
                    "message": b.message,
                    "params": dict(b.params),
                    "face": b.face_number,
                    "face_id": b.face_id,
                    "person_id": b.person_id,
                    "channel": str(channel),
                }
            )
    return out


def _status_when_clear(item: QueueItem, at: datetime) -> str:
    if item.scheduled_for is not None and item.scheduled_for > at:
        return "scheduled"
    return "ready"


def blocked_channels(entries: Iterable[dict[str, Any]]) -> set[str]:
    """The channels the gate refuses, from its reasons (a publish error blocks nothing)."""
    return {str(e.get("channel")) for e in entries if e.get("code") != PUBLISH_FAILED}


def _status_for(
    item: QueueItem, todo: Sequence[str], entries: list[dict[str, Any]], at: datetime
) -> str:
    """Blocked only when no channel still to publish is cleared; else ready (or scheduled)."""
    refused = blocked_channels(entries)
    if entries and all(c in refused for c in todo):
        return "blocked"
    return _status_when_clear(item, at)


def _apply_verdict(
    session: so.Session,
    item: QueueItem,
    decisions: dict[Channel, GateDecision],
    at: datetime,
    actor: str | None,
) -> bool:
    """Set an open item's status from the gate; record the change; return whether it changed.

    ``decisions`` covers the channels still to publish (not those already out).
    """
    entries = blocker_entries(decisions)
    before = item.status
    new_status = _status_for(item, [str(c) for c in decisions], entries, at)
    new_blockers: list[dict[str, Any]] = list(entries)
    if new_status != "blocked":
        # A publish error stays visible until the next attempt replaces it.
        new_blockers += [b for b in blockers_of(item) if b.get("code") == PUBLISH_FAILED]
    encoded = json.dumps(new_blockers, ensure_ascii=False) if new_blockers else None
    changed = new_status != before or encoded != item.blockers
    item.status = QueueStatus(new_status)
    item.blockers = encoded
    if new_status != before:
        if new_status == "blocked":
            events.record(
                session,
                "queue.blocked",
                f"queue_item:{item.id}",
                {"photo": item.photo_id, "was": before, "reasons": _reason_summary(entries)},
                actor=actor,
            )
        elif before == "blocked":
            events.record(
                session,
                "queue.unblocked",
                f"queue_item:{item.id}",
                {
                    "photo": item.photo_id,
                    "status": new_status,
                    "still_blocked": sorted(blocked_channels(entries)),
                },
                actor=actor,
            )
    return changed


def _reason_summary(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": e["code"], "face": e["face"], "channel": e["channel"]} for e in entries]


def _load_photos(session: so.Session, photo_ids: Iterable[int]) -> dict[int, Photo]:
    ids = sorted(set(photo_ids))
    if not ids:
        return {}
    rows = session.scalars(
        sa.select(Photo).where(Photo.id.in_(ids)).options(so.selectinload(Photo.faces))
    ).all()
    return {p.id: p for p in rows}


def queue_photo(
    session: so.Session,
    rt: Runtime,
    photo_id: int,
    channels: Iterable[str] | str,
    *,
    caption: str = "",
    scheduled_for: datetime | None = None,
    fit: str = "pad",
    actor: User | None = None,
    at: datetime | None = None,
) -> QueueItem:
    """Put a photo on the queue for the chosen channels; the gate decides blocked or ready."""
    at = at or utcnow()
    chosen = parse_channels(channels)
    caption = (caption or "").replace("\r\n", "\n").strip()
    if len(caption) > CAPTION_MAX:
        raise QueueError(
            N_("the caption is %(length)s characters; Instagram allows %(most)s"),
            length=len(caption),
            most=CAPTION_MAX,
        )
    if fit not in FITS:
        raise QueueError(N_("fit must be 'pad' (add borders) or 'crop' (cut the edges)"))
    if scheduled_for is not None and scheduled_for.tzinfo is None:
        raise QueueError(N_("give the time with its time zone"))
    photo = _load_photos(session, [photo_id]).get(photo_id)
    if photo is None:
        raise QueueError(N_("there is no photo %(photo)s"), photo=photo_id)
    item = QueueItem(
        photo_id=photo.id,
        channels=" ".join(chosen),
        caption=caption,
        scheduled_for=scheduled_for,
        fit=fit,
        status="blocked",
        created_by_id=actor.id if actor else None,
    )
    session.add(item)
    session.flush()
    decisions = decide_many(session, [photo], chosen, at)[photo.id]
    entries = blocker_entries(decisions)
    item.status = QueueStatus(_status_for(item, chosen, entries, at))
    item.blockers = json.dumps(entries, ensure_ascii=False) if entries else None
    events.record(
        session,
        "queue.added",
        f"queue_item:{item.id}",
        {
            "photo": photo.id,
            "channels": chosen,
            "scheduled_for": scheduled_for,
            "fit": fit,
            "status": item.status,
        },
        actor=_actor(actor),
    )
    if item.status == "blocked":
        events.record(
            session,
            "queue.blocked",
            f"queue_item:{item.id}",
            {"photo": photo.id, "was": None, "reasons": _reason_summary(entries)},
            actor=_actor(actor),
        )
    return item


def recheck_queue(
    session: so.Session,
    rt: Runtime,
    photo_ids: Iterable[int] | None = None,
    *,
    at: datetime | None = None,
    actor: str | None = "gate",
) -> list[QueueItem]:
    """Re-evaluate the gate for every open queue item (or those of `photo_ids`); return the changed.

    Call it after anything the gate looks at changed (consent given or withdrawn, a face
    confirmed, marked or blurred, a supplier permission added or revoked). It flushes but does
    not commit: the caller commits with its own change. The number of queries does not grow
    with the number of items.
    """
    at = at or utcnow()
    query = sa.select(QueueItem).where(QueueItem.status.in_(OPEN_STATUSES))
    if photo_ids is not None:
        wanted = sorted(set(photo_ids))
        if not wanted:
            return []
        query = query.where(QueueItem.photo_id.in_(wanted))
    items = session.scalars(query.order_by(QueueItem.id)).all()
    if not items:
        return []
    photos = _load_photos(session, (i.photo_id for i in items))
    all_channels = sorted({c for i in items for c in i.channel_list})
    verdicts = decide_many(session, list(photos.values()), all_channels, at)
    # An item waiting with one channel out already is judged on the channels still to go.
    done: dict[int, set[str]] = {}
    for item_id, channel in session.execute(
        sa.select(Publication.queue_item_id, Publication.channel).where(
            Publication.queue_item_id.in_([i.id for i in items])
        )
    ):
        assert item_id is not None  # the query asks for these items' publications only
        done.setdefault(item_id, set()).add(channel)
    changed: list[QueueItem] = []
    for item in items:
        per_photo = verdicts[item.photo_id]
        out = done.get(item.id, set())
        decisions = {Channel(c): per_photo[Channel(c)] for c in item.channel_list if c not in out}
        if _apply_verdict(session, item, decisions, at, actor):
            changed.append(item)
    session.flush()
    return changed


def verdict_is_stale(session: so.Session, item: QueueItem, at: datetime | None = None) -> bool:
    """Whether an open item's stored reasons differ from what the gate says now.

    Consent, faces and permissions change without every change re-checking the queue at once
    (the worker does, within a minute): meanwhile a page says "checking" rather than show reasons
    that no longer hold.
    """
    if item.status not in OPEN_STATUSES:
        return False
    photo = _load_photos(session, [item.photo_id]).get(item.photo_id)
    if photo is None:
        return False
    done = published_channels(session, item)
    todo = [c for c in item.channel_list if c not in done]
    decisions = decide_many(session, [photo], todo, at or utcnow())[photo.id] if todo else {}
    now = _reason_summary(blocker_entries(decisions))
    stored = _reason_summary([b for b in blockers_of(item) if b.get("code") != PUBLISH_FAILED])
    key = lambda r: (str(r["channel"]), str(r["code"]), str(r["face"]))  # noqa: E731
    return sorted(map(key, now)) != sorted(map(key, stored))


def recheck_photos(rt: Runtime, photo_ids: list[int]) -> int:
    """The queue items of these photos checked by the gate now (a job); the number changed."""
    with unit_of_work(rt) as session:
        changed = recheck_queue(session, rt, photo_ids)
    return len(changed)


def cancel(session: so.Session, item: QueueItem, actor: User | None = None) -> None:
    if item.status in ("published", "cancelled"):
        raise QueueError(N_("this item is already %(status)s"), status=item.status)
    if item.status == "publishing" and not pending_manual_channels(session, item):
        raise QueueError(N_("this item is being published right now"))
    before = item.status
    item.status = QueueStatus.CANCELLED
    events.record(
        session,
        "queue.cancelled",
        f"queue_item:{item.id}",
        {"photo": item.photo_id, "was": before},
        actor=_actor(actor),
    )


def published_channels(session: so.Session, item: QueueItem) -> set[str]:
    return set(
        session.scalars(
            sa.select(Publication.channel).where(Publication.queue_item_id == item.id)
        ).all()
    )


def pending_manual_channels(session: so.Session, item: QueueItem) -> list[str]:
    """Channels of an item still to be posted by hand (no Publication yet, manual connection,
    not refused by the gate)."""
    from consentcam.publishers.registry import connection_for

    done = published_channels(session, item)
    refused = blocked_channels(blockers_of(item))
    out = []
    for channel in item.channel_list:
        if channel in done or channel in refused:
            continue
        conn = connection_for(session, channel)
        if conn is None or conn.kind != "meta":
            out.append(channel)
    return out


def request_publish(
    session: so.Session, rt: Runtime, item: QueueItem, actor: User | None = None
) -> bool:
    """Make an item ready to go now (gate re-run first); return False when the gate blocks it.

    The caller commits and then enqueues the `publish_queue_item` job.
    """
    if item.status not in ("ready", "scheduled", "failed", "blocked"):
        raise QueueError(
            N_("an item that is %(status)s cannot be published now"), status=item.status
        )
    at = utcnow()
    photo = _load_photos(session, [item.photo_id])[item.photo_id]
    done = published_channels(session, item)
    todo = [c for c in item.channel_list if c not in done]
    decisions = decide_many(session, [photo], todo, at)[photo.id]
    if item.status in ("failed", "scheduled"):
        item.status = QueueStatus.READY
    if item.scheduled_for is not None and item.scheduled_for > at:
        item.scheduled_for = None  # "now" means now, whatever time was planned
    _apply_verdict(session, item, decisions, at, _actor(actor))
    return item.status == "ready"


def _claim(session: so.Session, item_id: int) -> bool:
    """Take the item for publishing; only one job wins even when two run at once."""
    result = session.execute(
        sa.update(QueueItem)
        .where(QueueItem.id == item_id, QueueItem.status.in_(("ready", "scheduled")))
        .values(status="publishing", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(rowcount(result))


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
    import urllib.parse

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


_CLEARED_KEY = re.compile(r"cleared/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\.jpg")


def cleared_digest(key: str) -> str | None:
    """The SHA-256 a cleared copy's storage key names, or None for anything else."""
    match = _CLEARED_KEY.fullmatch(key or "")
    if match is None or not match.group(3).startswith(match.group(1) + match.group(2)):
        return None
    return match.group(3)


def create_public_link(
    session: so.Session,
    rt: Runtime,
    cleared_key: str,
    ttl: timedelta = PUBLIC_LINK_TTL,
    *,
    photo_id: int | None = None,
) -> str:
    """A short-lived unguessable URL to a cleared copy; only the token's SHA-256 is stored."""
    from consentcam.public_url import public_base

    base = public_base(rt.settings, loopback=True) or ""
    digest = cleared_digest(cleared_key)
    if digest is None:
        raise PublisherError("only a cleared copy can have a public link", code="not_cleared")
    if not base:
        raise PublisherError(
            "Meta fetches the photo from this app, so PUBLIC_URL must be set to the address "
            "where the app can be reached from the internet.",
            code="no_public_url",
        )
    token = secrets.token_urlsafe(32)
    session.add(
        PublicLink(
            token_hash=hashlib.sha256(token.encode("ascii")).hexdigest(),
            cleared_copy_key=cleared_key,
            cleared_sha256=digest,
            photo_id=photo_id,
            expires_at=utcnow() + ttl,
        )
    )
    session.flush()
    return f"{base}/p/{token}"


def resolve_public_link(session: so.Session, token: str, at: datetime | None = None) -> str | None:
    """The cleared copy key behind a public token, or None when unknown or expired."""
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    link = session.scalar(sa.select(PublicLink).where(PublicLink.token_hash == digest))
    if link is None or link.expires_at <= (at or utcnow()):
        return None
    # By the copy's SHA-256, never by a path read from the row: a tampered row naming an
    # original (or "cleared/../originals/...") resolves to nothing.
    copy = link.cleared_sha256 or cleared_digest(link.cleared_copy_key)
    if copy is None or not re.fullmatch(r"[0-9a-f]{64}", copy):
        return None
    return f"cleared/{copy[:2]}/{copy[2:4]}/{copy}.jpg"


def revoke_public_links(session: so.Session, photo_ids: Iterable[int]) -> int:
    """End every public link to these photos at once (a withdrawal, an erasure)."""
    ids = sorted(set(photo_ids))
    if not ids:
        return 0
    result = session.execute(sa.delete(PublicLink).where(PublicLink.photo_id.in_(ids)))
    return rowcount(result)


def purge_public_links(session: so.Session, at: datetime | None = None) -> int:
    result = session.execute(
        sa.delete(PublicLink).where(PublicLink.expires_at < (at or utcnow()) - timedelta(days=1))
    )
    return rowcount(result)


def _record_publication(
    session: so.Session,
    item: QueueItem,
    photo: Photo,
    decision: GateDecision,
    *,
    publisher: str,
    external_id: str | None,
    url: str | None,
    cleared_key: str,
    cleared_sha256: str,
    actor: User | None,
    at: datetime,
) -> Publication:
    faces = {f.id: f for f in photo.faces}
    supplier_ids = [
        c.supplier_permission_id for c in decision.clearances if c.supplier_permission_id
    ]
    publication = Publication(
        queue_item_id=item.id,
        photo_id=photo.id,
        channel=str(decision.channel),
        publisher=publisher,
        external_id=external_id,
        url=url,
        caption=item.caption,
        published_at=at,
        published_by_id=actor.id if actor else item.created_by_id,
        cleared_copy_key=cleared_key,
        cleared_copy_sha256=cleared_sha256,
        supplier_permission_id=supplier_ids[0] if supplier_ids else None,
        live=True,
        faces_confirmed_at=photo.faces_confirmed_at,
    )
    publication.faces = [
        PublicationFace(
            face_id=c.face_id,
            person_id=faces[c.face_id].person_id if c.face_id in faces else None,
            how=str(c.how),
            consent_id=c.consent_id,
        )
        for c in decision.clearances
    ]
    session.add(publication)
    session.flush()
    events.record(
        session,
        "publication.created",
        f"publication:{publication.id}",
        {
            "queue_item": item.id,
            "photo": photo.id,
            "channel": publication.channel,
            "publisher": publisher,
            "external_id": external_id,
            "url": url,
            "cleared_copy_sha256": cleared_sha256,
            "faces": [
                {"face": f.face_id, "person": f.person_id, "how": f.how, "consent": f.consent_id}
                for f in publication.faces
            ],
            "supplier_permission": publication.supplier_permission_id,
            "faces_confirmed_at": photo.faces_confirmed_at,
        },
        actor=_actor(actor) or "publisher",
    )
    return publication


def _fail(
    session: so.Session, item: QueueItem, channel: str, exc: PublisherError, *, final: bool
) -> None:
    entry = {
        "code": PUBLISH_FAILED,
        "message": str(exc),
        "params": {"error": exc.code or ""},
        "face": None,
        "face_id": None,
        "person_id": None,
        "channel": channel,
        "retryable": exc.retryable,
    }
    item.blockers = json.dumps([entry], ensure_ascii=False)
    item.status = QueueStatus.FAILED if final else QueueStatus.READY
    events.record(
        session,
        "queue.failed" if final else "queue.retrying",
        f"queue_item:{item.id}",
        {"photo": item.photo_id, "channel": channel, "error": exc.code, "message": str(exc)},
        actor="publisher",
    )


def publish_item(
    session: so.Session,
    rt: Runtime,
    item_id: int,
    *,
    final_attempt: bool = True,
    at: datetime | None = None,
) -> PublishOutcome:
    """Publish one queue item on its channels through their publishers.

    The gate runs again first; if anything changed since the item was queued, the item is
    blocked with the new reasons and nothing goes out. Each channel is committed as soon as it
    is published, so a retry never posts twice. A retryable error is raised again (after the
    item is put back to ready) unless this is the final attempt; any other error fails the item.
    """
    from consentcam.publishers.registry import get_publisher
    from consentcam.services.cleared import make_cleared_copy

    if not _claim(session, item_id):
        item = session.get(QueueItem, item_id)
        return PublishOutcome(item.status if item else "missing", message="not ready to publish")
    item = session.get(QueueItem, item_id)
    assert item is not None
    session.refresh(item)
    at = at or utcnow()
    photo = _load_photos(session, [item.photo_id])[item.photo_id]
    done = published_channels(session, item)
    todo = [c for c in item.channel_list if c not in done]
    decisions = decide_many(session, [photo], todo, at)[photo.id] if todo else {}
    entries = blocker_entries(decisions)
    refused = blocked_channels(entries)
    cleared_todo = [c for c in todo if c not in refused]
    if entries and not cleared_todo:
        item.status = QueueStatus.BLOCKED
        item.blockers = json.dumps(entries, ensure_ascii=False)
        events.record(
            session,
            "queue.blocked",
            f"queue_item:{item.id}",
            {
                "photo": photo.id,
                "was": "publishing",
                "at_publish": True,
                "reasons": _reason_summary(entries),
            },
            actor="gate",
        )
        session.commit()
        return PublishOutcome("blocked", message="the gate refused at the moment of publishing")

    created: list[int] = []
    cleared = None
    # Each channel goes out when it is cleared; a refused one waits with its reasons.
    for channel in cleared_todo:
        try:
            publisher = get_publisher(session, rt, channel)
            if publisher.kind == "manual":
                continue  # the owner posts it and pastes the link back
            if cleared is None:
                cleared = make_cleared_copy(rt, photo, item.fit)
            image_url = create_public_link(session, rt, cleared.key, photo_id=photo.id)
            session.commit()  # the link must exist before Meta comes to fetch it
            result = publisher.publish(
                PublishRequest(
                    channel=channel, caption=item.caption, image_url=image_url, image_bytes=None
                )
            )
        except PublisherError as exc:
            session.rollback()
            item = session.get(QueueItem, item_id)
            assert item is not None
            retry = exc.retryable and not final_attempt
            _fail(session, item, channel, exc, final=not retry)
            session.commit()
            if retry:
                raise
            return PublishOutcome("failed", tuple(created), str(exc))
        publication = _record_publication(
            session,
            item,
            photo,
            decisions[Channel(channel)],
            publisher=publisher.kind,
            external_id=result.external_id,
            url=result.url,
            cleared_key=cleared.key,
            cleared_sha256=cleared.sha256,
            actor=None,
            at=utcnow(),
        )
        created.append(publication.id)
        session.commit()

    _finish_status(session, item, entries)
    session.commit()
    return PublishOutcome(item.status, tuple(created))


def _finish_status(
    session: so.Session, item: QueueItem, entries: list[dict[str, Any]] | None = None
) -> None:
    """After a channel went out: published, waiting for a hand-made post, or blocked for the
    channels the gate still refuses (``entries``: their reasons; default: the stored ones)."""
    done = published_channels(session, item)
    pending = [c for c in item.channel_list if c not in done]
    if not pending:
        item.status = QueueStatus.PUBLISHED
        item.blockers = None
        return
    if entries is None:
        entries = [b for b in blockers_of(item) if b.get("code") != PUBLISH_FAILED]
    entries = [e for e in entries if e.get("channel") in pending]
    refused = blocked_channels(entries)
    item.blockers = json.dumps(entries, ensure_ascii=False) if entries else None
    if any(c not in refused for c in pending):
        item.status = (
            QueueStatus.PUBLISHING
        )  # waiting for a hand-made post on the remaining channels
    else:
        before = item.status
        item.status = QueueStatus.BLOCKED  # the rest goes out when the gate clears it
        events.record(
            session,
            "queue.blocked",
            f"queue_item:{item.id}",
            {"photo": item.photo_id, "was": before, "reasons": _reason_summary(entries)},
            actor="gate",
        )


def cleared_copy_for_manual(session: so.Session, rt: Runtime, item: QueueItem, channel: str) -> Any:
    """Render the cleared copy the owner posts by hand; refused when the gate blocks the channel."""
    from consentcam.services.cleared import make_cleared_copy

    if channel not in item.channel_list:
        raise QueueError(N_("this item is not queued for %(channel)s"), channel=channel)
    if item.status in ("cancelled", "blocked"):
        raise QueueError(N_("this item is %(status)s"), status=item.status)
    photo = _load_photos(session, [item.photo_id])[item.photo_id]
    decision = decide_many(session, [photo], [channel], utcnow())[photo.id][Channel(channel)]
    if not decision.cleared:
        _apply_verdict(session, item, {Channel(channel): decision}, utcnow(), "gate")
        raise QueueError(
            "the gate no longer clears this photo: "
            + " ".join(b.message for b in decision.blockers)
        )
    return make_cleared_copy(rt, photo, item.fit)


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
    photo = _load_photos(session, [item.photo_id])[item.photo_id]
    at = utcnow()
    decision = decide_many(session, [photo], [channel], at)[photo.id][Channel(channel)]
    cleared = make_cleared_copy(rt, photo, item.fit)
    publication = _record_publication(
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
            {"reasons": _reason_summary(blocker_entries({decision.channel: decision}))},
            actor=_actor(actor),
        )
    _finish_status(session, item)
    return publication


def due_items(session: so.Session, at: datetime | None = None) -> list[int]:
    """Scheduled items whose time has come, made ready; the caller commits and enqueues them."""
    at = at or utcnow()
    items = session.scalars(
        sa.select(QueueItem)
        .where(QueueItem.status == "scheduled", QueueItem.scheduled_for <= at)
        .order_by(QueueItem.scheduled_for)
    ).all()
    for item in items:
        item.status = QueueStatus.READY
    session.flush()
    return [i.id for i in items]


# -- background jobs --------------------------------------------------------------------------


def run_publish_job(rt: Runtime, item_id: int, final_attempt: bool) -> PublishOutcome:
    with rt.sessions() as session:
        return publish_item(session, rt, item_id, final_attempt=final_attempt)


def run_recheck(rt: Runtime) -> int:
    with unit_of_work(rt) as session:
        changed = recheck_queue(session, rt)
        purge_public_links(session)
    return len(changed)


def run_due(rt: Runtime) -> list[int]:
    with unit_of_work(rt) as session:
        ids = due_items(session)
        for item_id in ids:
            later(session, "publish_queue_item", item_id)
    return ids


def register(jobs: Jobs) -> None:
    from huey import crontab

    config = jobs.rt.settings
    retries = int(config.get("PUBLISH_RETRIES", 5))

    @jobs.task(
        "publish_queue_item",
        retries=retries,
        retry_delay=float(config.get("PUBLISH_RETRY_DELAY", 60)),
        retry_backoff=2,
        context=True,
    )
    def publish_queue_item(rt: Runtime, item_id: int, task: Any = None) -> str:
        # huey counts retries down; on the last one a retryable error fails the item for good.
        final = task is None or not task.retries
        return run_publish_job(rt, item_id, final).status

    jobs.periodic("recheck_queue", crontab(minute="*"), run_recheck)

    @jobs.task("recheck_photos")
    def recheck_photos_task(rt: Runtime, photo_ids: list[int]) -> int:
        return recheck_photos(rt, photo_ids)

    jobs.periodic("publish_due_items", crontab(minute="*"), run_due)
