"""Queue items: put a photo on the queue, take it off, ask for it now, and what the pages list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import QueueStatus
from consentcam.models import Photo, Publication, QueueItem, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.gate import decide_many
from consentcam.services.publishing.verdicts import (
    STATUSES,
    QueueError,
    apply_verdict,
    blocker_entries,
    decide_todo,
    encode_blockers,
    load_photos,
    parse_channels,
    pending_manual_channels,
    record_blocked,
    status_for,
)
from consentcam.uow import later
from consentcam.wording import N_

FITS = ("pad", "crop")
CAPTION_MAX = 2200  # Instagram's caption limit; Facebook allows more
# What the queue page lists as "open": everything not yet out or taken off.
LISTED_OPEN = ("blocked", "ready", "scheduled", "publishing", "failed")
QUEUE_PAGE_SIZE = 200
PUBLICATIONS_PAGE_SIZE = 300


def _checked_request(caption: str, fit: str, scheduled_for: datetime | None) -> str:
    """The caption as stored; refuses a caption too long, an unknown fit, a time without zone."""
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
    return caption


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
    caption = _checked_request(caption, fit, scheduled_for)
    photo = load_photos(session, [photo_id]).get(photo_id)
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
    entries = blocker_entries(decide_many(session, [photo], chosen, at)[photo.id])
    item.status = status_for(item, chosen, entries, at)
    item.blockers = encode_blockers(entries)
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
        record_blocked(session, item, None, entries, _actor(actor))
    return item


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


def request_publish(
    session: so.Session, rt: Runtime, item: QueueItem, actor: User | None = None
) -> bool:
    """Make an item ready to go now (gate re-run first); return False when the gate blocks it.

    The caller's unit of work commits; the `publish_queue_item` job is queued by the caller
    after the commit (`publish_now` does both).
    """
    if item.status not in ("ready", "scheduled", "failed", "blocked"):
        raise QueueError(
            N_("an item that is %(status)s cannot be published now"), status=item.status
        )
    at = utcnow()
    _photo, decisions = decide_todo(session, item, at)
    if item.status in ("failed", "scheduled"):
        item.status = QueueStatus.READY
    if item.scheduled_for is not None and item.scheduled_for > at:
        item.scheduled_for = None  # "now" means now, whatever time was planned
    apply_verdict(session, item, decisions, at, _actor(actor))
    return item.status == "ready"


def publish_now(
    session: so.Session, rt: Runtime, item: QueueItem, actor: User | None = None
) -> bool:
    """ "Publish now": the item made ready and its publishing queued once the unit of work has
    committed; False (and nothing queued) when the gate blocks it."""
    ok = request_publish(session, rt, item, actor)
    if ok:
        later(session, "publish_queue_item", item.id)
    return ok


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


# -- what the pages show ------------------------------------------------------------------------


def photo_to_queue(session: so.Session, photo_id: int) -> Photo | None:
    """The photo about to be queued (with its faces), or None."""
    return load_photos(session, [photo_id]).get(photo_id)


@dataclass(frozen=True)
class QueuePage:
    items: Sequence[QueueItem]
    status: str  # the filter as understood: open, a status, or all
    counts: dict[str, int]  # items per status, whatever the filter


def queue_page(session: so.Session, status: str) -> QueuePage:
    """The newest items of one status (``open``: not yet out; unknown: all), with the counts."""
    query = sa.select(QueueItem).options(so.selectinload(QueueItem.photo))
    if status == "open":
        query = query.where(QueueItem.status.in_(LISTED_OPEN))
    elif status in STATUSES:
        query = query.where(QueueItem.status == status)
    else:
        status = "all"
    items = session.scalars(
        query.order_by(QueueItem.created_at.desc()).limit(QUEUE_PAGE_SIZE)
    ).all()
    counts = session.execute(
        sa.select(QueueItem.status, sa.func.count()).group_by(QueueItem.status)
    ).all()
    return QueuePage(items, status, {s: int(n) for s, n in counts})


def publications_of(session: so.Session, item: QueueItem) -> list[Publication]:
    """What went out of this item, one per channel, oldest first."""
    return list(
        session.scalars(
            sa.select(Publication)
            .where(Publication.queue_item_id == item.id)
            .order_by(Publication.id)
        ).all()
    )


def publication_count(session: so.Session, item: QueueItem) -> int:
    count = session.scalar(
        sa.select(sa.func.count(Publication.id)).where(Publication.queue_item_id == item.id)
    )
    return int(count or 0)


def publications_page(session: so.Session, live: str) -> tuple[list[Publication], str]:
    """The newest publications: ``live``, ``removed`` or anything else for all (as understood)."""
    query = sa.select(Publication).options(
        so.selectinload(Publication.photo), so.selectinload(Publication.faces)
    )
    if live == "live":
        query = query.where(Publication.live.is_(True))
    elif live == "removed":
        query = query.where(Publication.live.is_(False))
    else:
        live = "all"
    rows = session.scalars(
        query.order_by(Publication.published_at.desc()).limit(PUBLICATIONS_PAGE_SIZE)
    ).all()
    return list(rows), live
