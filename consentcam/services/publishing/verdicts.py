"""A queue item's gate verdict: its statuses, its stored reasons, and keeping them current."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain import vocabulary
from consentcam.domain.gate import GateDecision
from consentcam.domain.types import Channel, QueueStatus
from consentcam.models import Photo, Publication, QueueItem, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.gate import decide_many
from consentcam.wording import N_, WordedError

STATUSES = ("blocked", "ready", "scheduled", "publishing", "published", "failed", "cancelled")
# Items whose gate verdict can still change the status.
OPEN_STATUSES = ("blocked", "ready", "scheduled")
PUBLISH_FAILED = "publish_failed"


class QueueError(WordedError, ValueError):
    """A request the queue cannot take, worded for the owner."""


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


def encode_blockers(entries: Sequence[dict[str, Any]]) -> str | None:
    """Reasons as they are stored on the item (None for none)."""
    return json.dumps(list(entries), ensure_ascii=False) if entries else None


def _status_when_clear(item: QueueItem, at: datetime) -> QueueStatus:
    if item.scheduled_for is not None and item.scheduled_for > at:
        return QueueStatus.SCHEDULED
    return QueueStatus.READY


def blocked_channels(entries: Iterable[dict[str, Any]]) -> set[str]:
    """The channels the gate refuses, from its reasons (a publish error blocks nothing)."""
    return {str(e.get("channel")) for e in entries if e.get("code") != PUBLISH_FAILED}


def status_for(
    item: QueueItem, todo: Sequence[str], entries: list[dict[str, Any]], at: datetime
) -> QueueStatus:
    """Blocked only when no channel still to publish is cleared; else ready (or scheduled)."""
    refused = blocked_channels(entries)
    if entries and all(c in refused for c in todo):
        return QueueStatus.BLOCKED
    return _status_when_clear(item, at)


def reason_summary(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": e["code"], "face": e["face"], "channel": e["channel"]} for e in entries]


def record_blocked(
    session: so.Session,
    item: QueueItem,
    was: str | None,
    entries: Sequence[dict[str, Any]],
    actor: str | None,
    **extra: Any,
) -> None:
    """The event of an item the gate has just blocked (``was``: its status before)."""
    data: dict[str, Any] = {"photo": item.photo_id, "was": was, **extra}
    data["reasons"] = reason_summary(entries)
    events.record(session, "queue.blocked", f"queue_item:{item.id}", data, actor=actor)


def apply_verdict(
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
    new_status = status_for(item, [str(c) for c in decisions], entries, at)
    new_blockers: list[dict[str, Any]] = list(entries)
    if new_status != "blocked":
        # A publish error stays visible until the next attempt replaces it.
        new_blockers += [b for b in blockers_of(item) if b.get("code") == PUBLISH_FAILED]
    encoded = encode_blockers(new_blockers)
    changed = new_status != before or encoded != item.blockers
    item.status = new_status
    item.blockers = encoded
    if new_status != before and new_status == "blocked":
        record_blocked(session, item, before, entries, actor)
    elif new_status != before and before == "blocked":
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


def load_photos(session: so.Session, photo_ids: Iterable[int]) -> dict[int, Photo]:
    """Photos by id, with their faces (what the gate looks at)."""
    ids = sorted(set(photo_ids))
    if not ids:
        return {}
    rows = session.scalars(
        sa.select(Photo).where(Photo.id.in_(ids)).options(so.selectinload(Photo.faces))
    ).all()
    return {p.id: p for p in rows}


def published_channels(session: so.Session, item: QueueItem) -> set[str]:
    return set(
        session.scalars(
            sa.select(Publication.channel).where(Publication.queue_item_id == item.id)
        ).all()
    )


def channels_to_go(session: so.Session, item: QueueItem) -> list[str]:
    """The item's channels with no publication yet, in its order."""
    done = published_channels(session, item)
    return [c for c in item.channel_list if c not in done]


def decide_todo(
    session: so.Session, item: QueueItem, at: datetime
) -> tuple[Photo, dict[Channel, GateDecision]]:
    """The item's photo and the gate's verdict now on each channel still to publish."""
    photo = load_photos(session, [item.photo_id])[item.photo_id]
    todo = channels_to_go(session, item)
    decisions = decide_many(session, [photo], todo, at)[photo.id] if todo else {}
    return photo, decisions


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
    not commit: the caller's unit of work commits with its own change. The number of queries
    does not grow with the number of items.
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
    photos = load_photos(session, (i.photo_id for i in items))
    all_channels = sorted({c for i in items for c in i.channel_list})
    verdicts = decide_many(session, list(photos.values()), all_channels, at)
    # An item waiting with one channel out already is judged on the channels still to go.
    done = _published_by_item(session, [i.id for i in items])
    changed: list[QueueItem] = []
    for item in items:
        per_photo = verdicts[item.photo_id]
        out = done.get(item.id, set())
        decisions = {Channel(c): per_photo[Channel(c)] for c in item.channel_list if c not in out}
        if apply_verdict(session, item, decisions, at, actor):
            changed.append(item)
    session.flush()
    return changed


def _published_by_item(session: so.Session, item_ids: list[int]) -> dict[int, set[str]]:
    """The channels each of these items is out on already, in one query."""
    done: dict[int, set[str]] = {}
    for item_id, channel in session.execute(
        sa.select(Publication.queue_item_id, Publication.channel).where(
            Publication.queue_item_id.in_(item_ids)
        )
    ):
        assert item_id is not None  # the query asks for these items' publications only
        done.setdefault(item_id, set()).add(channel)
    return done


def verdict_is_stale(session: so.Session, item: QueueItem, at: datetime | None = None) -> bool:
    """Whether an open item's stored reasons differ from what the gate says now.

    Consent, faces and permissions change without every change re-checking the queue at once
    (the worker does, within a minute): meanwhile a page says "checking" rather than show reasons
    that no longer hold.
    """
    if item.status not in OPEN_STATUSES:
        return False
    photo = load_photos(session, [item.photo_id]).get(item.photo_id)
    if photo is None:
        return False
    todo = channels_to_go(session, item)
    decisions = decide_many(session, [photo], todo, at or utcnow())[photo.id] if todo else {}
    now = reason_summary(blocker_entries(decisions))
    stored = reason_summary([b for b in blockers_of(item) if b.get("code") != PUBLISH_FAILED])
    key = lambda r: (str(r["channel"]), str(r["code"]), str(r["face"]))  # noqa: E731
    return sorted(map(key, now)) != sorted(map(key, stored))
