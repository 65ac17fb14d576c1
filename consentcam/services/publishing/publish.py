"""Publishing one queue item through its channels' publishers, one committed step at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.domain.gate import GateDecision
from consentcam.domain.types import Channel
from consentcam.models import Photo, QueueItem, utcnow
from consentcam.publishers.base import Publisher, PublisherError, PublishRequest
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.publishing.links import create_public_link
from consentcam.services.publishing.record import finish_status, record_publication
from consentcam.services.publishing.verdicts import (
    PUBLISH_FAILED,
    blocked_channels,
    blocker_entries,
    decide_todo,
    encode_blockers,
    record_blocked,
)
from consentcam.uow import unit_of_work

if TYPE_CHECKING:
    from consentcam.services.cleared import ClearedCopy


@dataclass(frozen=True)
class PublishOutcome:
    status: str
    publications: tuple[int, ...] = ()
    message: str = ""


@dataclass
class _Run:
    """One publishing of an item: the gate's verdict at its start, and what went out so far."""

    session: so.Session
    rt: Runtime
    item_id: int
    item: QueueItem
    photo: Photo
    decisions: dict[Channel, GateDecision]  # the channels still to publish
    entries: list[dict[str, Any]]  # the gate's reasons for those it refuses
    cleared: ClearedCopy | None = None
    created: list[int] = field(default_factory=list)

    @property
    def cleared_todo(self) -> list[str]:
        """The channels still to publish that the gate clears, in the item's order."""
        refused = blocked_channels(self.entries)
        return [str(c) for c in self.decisions if str(c) not in refused]


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
    blocked with the new reasons and nothing goes out. The work is done in steps, each its own
    unit of work on ``session``: the claim; the gate's verdict; for each channel its public
    link (before Meta fetches it), then its Publication as soon as it is out, so a retry never
    posts twice; the item's status at the end. A retryable error is raised again (after the
    item is put back to ready) unless this is the final attempt; any other error fails the item.
    """
    # The claim is committed at once: a second job running now finds the item taken.
    with unit_of_work(rt, session):
        claimed = _claim(session, item_id)
    if not claimed:
        item = session.get(QueueItem, item_id)
        return PublishOutcome(item.status if item else "missing", message="not ready to publish")
    with unit_of_work(rt, session):
        run = _start(session, rt, item_id, at or utcnow())
        refused_everywhere = _block_if_refused(run)
    if refused_everywhere:
        return PublishOutcome("blocked", message="the gate refused at the moment of publishing")
    # Each channel goes out when it is cleared; a refused one waits with its reasons.
    for channel in run.cleared_todo:
        failed = _publish_channel(run, channel, final_attempt)
        if failed is not None:
            return failed
    with unit_of_work(rt, session):
        finish_status(session, run.item, run.entries)
    return PublishOutcome(run.item.status, tuple(run.created))


def _claim(session: so.Session, item_id: int) -> bool:
    """Take the item for publishing; only one job wins even when two run at once."""
    result = session.execute(
        sa.update(QueueItem)
        .where(QueueItem.id == item_id, QueueItem.status.in_(("ready", "scheduled")))
        .values(status="publishing", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


def _start(session: so.Session, rt: Runtime, item_id: int, at: datetime) -> _Run:
    """The claimed item as it is now, and the gate's verdict on its channels still to go."""
    item = session.get(QueueItem, item_id)
    assert item is not None
    session.refresh(item)
    photo, decisions = decide_todo(session, item, at)
    return _Run(session, rt, item_id, item, photo, decisions, blocker_entries(decisions))


def _block_if_refused(run: _Run) -> bool:
    """Block the item when the gate refuses every channel still to go; say whether it did."""
    if not run.entries or run.cleared_todo:
        return False
    run.item.status = "blocked"
    run.item.blockers = encode_blockers(run.entries)
    record_blocked(run.session, run.item, "publishing", run.entries, "gate", at_publish=True)
    return True


def _publish_channel(run: _Run, channel: str, final_attempt: bool) -> PublishOutcome | None:
    """Send the post on one channel and record it; the outcome when publishing stops here."""
    try:
        # The public link is committed before Meta comes to fetch the photo through it.
        with unit_of_work(run.rt, run.session):
            publisher, request = _prepare(run, channel)
        if publisher is None or request is None:
            return None  # posted by hand: the owner posts it and pastes the link back
        # No transaction stays open while the channel answers.
        result = publisher.publish(request)
    except PublisherError as exc:
        if _record_failure(run, channel, exc, final_attempt):
            raise
        return PublishOutcome("failed", tuple(run.created), str(exc))
    assert run.cleared is not None  # made before the link
    # The post is out: its Publication is committed at once, so a retry never posts it twice.
    with unit_of_work(run.rt, run.session):
        publication = record_publication(
            run.session,
            run.item,
            run.photo,
            run.decisions[Channel(channel)],
            publisher=publisher.kind,
            external_id=result.external_id,
            url=result.url,
            cleared_key=run.cleared.key,
            cleared_sha256=run.cleared.sha256,
            actor=None,
            at=utcnow(),
        )
    run.created.append(publication.id)
    return None


def _prepare(run: _Run, channel: str) -> tuple[Publisher | None, PublishRequest | None]:
    """The channel's publisher and its request, with a public link to the cleared copy
    (None for both when the channel is posted by hand)."""
    from consentcam.publishers.registry import get_publisher
    from consentcam.services.cleared import make_cleared_copy

    publisher = get_publisher(run.session, run.rt, channel)
    if publisher.kind == "manual":
        return None, None
    if run.cleared is None:
        run.cleared = make_cleared_copy(run.rt, run.photo, run.item.fit)
    link = create_public_link(run.session, run.rt, run.cleared.key, photo_id=run.photo.id)
    request = PublishRequest(
        channel=channel, caption=run.item.caption, image_url=link, image_bytes=None
    )
    return publisher, request


def _record_failure(run: _Run, channel: str, exc: PublisherError, final_attempt: bool) -> bool:
    """Record a publisher's refusal on the item; return whether the job should try again."""
    retry = exc.retryable and not final_attempt
    with unit_of_work(run.rt, run.session) as session:
        item = session.get(QueueItem, run.item_id)
        assert item is not None
        _fail(session, item, channel, exc, final=not retry)
    return retry


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
    item.blockers = encode_blockers([entry])
    item.status = "failed" if final else "ready"
    events.record(
        session,
        "queue.failed" if final else "queue.retrying",
        f"queue_item:{item.id}",
        {"photo": item.photo_id, "channel": channel, "error": exc.code, "message": str(exc)},
        actor="publisher",
    )
