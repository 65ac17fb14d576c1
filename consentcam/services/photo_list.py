"""The photo list: photos by review state or by the gate's verdict on a channel, and the counts.

Everything here reads the standing each photo stores (services.photo_state): a filter is one
index range, a page of it is found from the last photo shown (keyset, newest first), and the
filter counts are the counters kept on write (services.photo_tally): one small query, however
many photos there are. Photos whose stored verdicts the clock has overtaken (usually none: one
probe of an index says so) are worked out here and counted where they stand now.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.standing import Standing
from consentcam.domain.types import Channel, GateState, ReviewState
from consentcam.models import EnumText, Face, Photo, PhotoChannelState, UTCDateTime, utcnow
from consentcam.services import photo_state, photo_tally
from consentcam.wording import N_, WordedError

#: Filters of the photo list, in the order the owner sees them.
PHOTO_STATES = ("needs_review", "cleared", "blocked", "scanning", "failed")
REVIEW_FILTERS = {
    "needs_review": ReviewState.NEEDS_REVIEW,
    "scanning": ReviewState.SCANNING,
    "failed": ReviewState.FAILED,
}
GATE_FILTERS = {"cleared": GateState.CLEARED, "blocked": GateState.BLOCKED}


#: What the list shows of each photo (its tile); the page reads these columns only.
TILE = (
    Photo.id,
    Photo.original_name,
    Photo.scan_state,
    Photo.faces_confirmed_at,
    Photo.face_count,
    Photo.undecided_faces,
)

#: A photo's stored verdict on the list's channel, beside its tile (an outer join by key).
_VERDICT = so.aliased(PhotoChannelState, name="verdict")

#: The values a page's statement takes (its statement is built once per filter and direction).
_CHANNEL = sa.bindparam("channel", type_=EnumText(Channel))
_CURSOR = sa.tuple_(
    sa.bindparam("cursor_at", type_=UTCDateTime()), sa.bindparam("cursor_id", type_=sa.Integer())
)
_LIMIT = sa.bindparam("limit", type_=sa.Integer())
_OFFSET = sa.bindparam("offset", type_=sa.Integer())

#: Is any photo's stored verdict overtaken by the clock? One probe of the index on gate_due_at.
_ANY_DUE = sa.select(Photo.id).where(Photo.gate_due_at <= sa.bindparam("at")).limit(1)


class UnknownFilter(WordedError, ValueError):
    """A filter of the photo list that does not exist."""


def _check(state: str | None) -> None:
    if state is not None and state not in PHOTO_STATES:
        raise UnknownFilter(
            N_("unknown photo state %(state)r (use %(allowed)s)"),
            state=state,
            allowed=", ".join(PHOTO_STATES),
        )


@dataclass(frozen=True)
class Overdue:
    """The photos whose stored verdicts ran out, where they stand now and what was stored."""

    at: datetime
    channel: Channel
    standings: dict[int, Standing] = field(default_factory=dict)
    stored: dict[int, GateState] = field(default_factory=dict)

    @classmethod
    def load(cls, session: so.Session, channel: Channel, at: datetime) -> Overdue:
        if session.execute(_ANY_DUE, {"at": at}).first() is None:
            return cls(at, channel)  # the usual case: nothing to work out
        standings = photo_state.due_standings(session, at)
        stored = stored_verdicts(session, list(standings), channel) if standings else {}
        return cls(at, channel, standings, stored)

    def matching(self, state: GateState) -> list[int]:
        return [pid for pid, s in self.standings.items() if s.on(self.channel) is state]


def count_states(
    session: so.Session,
    channel: Channel | str = Channel.INSTAGRAM,
    now: datetime | None = None,
    overdue: Overdue | None = None,
) -> dict[str, int]:
    """How many photos are in each filter, and in all ("all")."""
    channel = Channel(channel)
    overdue = overdue or Overdue.load(session, channel, now or utcnow())
    counters = photo_tally.read(session)
    review = photo_tally.review_counts(counters)
    gate = photo_tally.verdict_counts(counters, channel)
    for state in overdue.stored.values():
        gate[state] -= 1
    for standing in overdue.standings.values():
        now_state = standing.on(channel)
        if now_state is not None:
            gate[now_state] += 1
    return {
        "all": sum(review.values()),
        "needs_review": review[ReviewState.NEEDS_REVIEW],
        "cleared": gate[GateState.CLEARED],
        "blocked": gate[GateState.BLOCKED],
        "scanning": review[ReviewState.SCANNING],
        "failed": review[ReviewState.FAILED],
    }


def review_counts(session: so.Session) -> dict[ReviewState, int]:
    """How many photos are in each review state (the counters kept on write)."""
    return photo_tally.review_counts(photo_tally.read(session))


def _conditions(state: str | None, overdue: Overdue | None) -> list[sa.ColumnElement[bool]]:
    """What puts a photo in a filter (nothing for all photos; a verdict filter needs
    ``overdue``, the photos whose stored verdicts ran out)."""
    if state in REVIEW_FILTERS:
        return [Photo.review_state == REVIEW_FILTERS[state]]
    if state in GATE_FILTERS:
        assert overdue is not None
        verdict = GATE_FILTERS[state]
        stored = sa.select(PhotoChannelState.photo_id).where(
            PhotoChannelState.channel == overdue.channel, PhotoChannelState.state == verdict
        )
        fresh = sa.or_(Photo.gate_due_at.is_(None), Photo.gate_due_at > overdue.at)
        return [
            sa.or_(sa.and_(fresh, Photo.id.in_(stored)), Photo.id.in_(overdue.matching(verdict)))
        ]
    return []


def _filtered(state: str | None, overdue: Overdue) -> sa.Select[Photo]:
    """The photos in a filter, as a query still to be ordered and cut."""
    return sa.select(Photo).where(*_conditions(state, overdue))


def _tiles(state: str | None, overdue: Overdue | None) -> tuple[Any, tuple[Any, Any]]:
    """The tiles of a filter (the columns a tile shows, and the photo's stored verdict on the
    channel as ``verdict``), still to be ordered and cut; and the two keys of their order.
    ``overdue`` None: no photo's stored verdict has run out."""
    if state in GATE_FILTERS and (overdue is None or not overdue.standings):
        # No photo is overdue: along the verdicts' own index, each with the filter's verdict.
        along = (
            sa.select(*TILE, PhotoChannelState.state.label("verdict"))
            .join(PhotoChannelState, PhotoChannelState.photo_id == Photo.id)
            .where(
                PhotoChannelState.channel == _CHANNEL,
                PhotoChannelState.state == GATE_FILTERS[state],
            )
        )
        return along, (PhotoChannelState.uploaded_at, PhotoChannelState.photo_id)
    query = sa.select(*TILE, _VERDICT.state.label("verdict")).outerjoin(
        _VERDICT, sa.and_(_VERDICT.photo_id == Photo.id, _VERDICT.channel == _CHANNEL)
    )
    return query.where(*_conditions(state, overdue)), (Photo.uploaded_at, Photo.id)


def _paged(query: Any, keys: tuple[Any, Any], direction: str) -> Any:
    """A page of ``query``: from the start (``offset`` rows on), ``older`` than the cursor
    (newest first), or ``newer`` than it (oldest first); ``limit`` rows at most."""
    if direction == "newer":
        return query.where(sa.tuple_(*keys) > _CURSOR).order_by(*keys).limit(_LIMIT)
    if direction == "older":
        query = query.where(sa.tuple_(*keys) < _CURSOR)
    else:
        query = query.offset(_OFFSET)
    return query.order_by(keys[0].desc(), keys[1].desc()).limit(_LIMIT)


@functools.cache
def _page_statement(state: str | None, direction: str) -> Any:
    """A page's statement when no stored verdict it filters by has run out, built once."""
    return _paged(*_tiles(state, None), direction)


def _page_of(state: str | None, overdue: Overdue, direction: str) -> Any:
    if state in GATE_FILTERS and overdue.standings:
        return _paged(*_tiles(state, overdue), direction)  # names the overdue photos
    return _page_statement(state, direction)


@dataclass(frozen=True)
class PhotoPage:
    """One numbered page of the list (the JSON API pages by number)."""

    photos: Sequence[Photo]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def photo_page(
    session: so.Session,
    *,
    state: str | None = None,
    channel: Channel | str = Channel.INSTAGRAM,
    page: int = 1,
    per_page: int = 30,
    total: int | None = None,
) -> PhotoPage:
    """Page ``page`` of the photos in a filter, newest first, with their faces loaded.

    ``total`` is the number of photos in the filter when the caller already knows it.
    """
    _check(state)
    channel = Channel(channel)
    overdue = Overdue.load(session, channel, utcnow())
    if total is None:
        total = count_states(session, channel, overdue=overdue)[state or "all"]
    rows = session.scalars(
        _filtered(state, overdue)
        .order_by(Photo.uploaded_at.desc(), Photo.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
        # A list never needs the faces' templates (a kilobyte each): leave them in the database.
        .options(so.selectinload(Photo.faces).defer(Face.template))
    ).all()
    return PhotoPage(rows, total, page, per_page)


@dataclass(frozen=True)
class PhotoList:
    """What the photo list page shows: the filter counts, one page and each photo's verdict.

    ``newer`` and ``older`` are the photos to page on from (None: nothing that way);
    ``number`` is the page's number among ``pages``.
    """

    state: str | None
    channel: Channel
    #: The tiles: rows of the TILE columns (a photo's ``id``, ``original_name``,
    #: ``scan_state``, ``faces_confirmed_at``, ``face_count`` and ``undecided_faces``) and
    #: ``verdict``, its stored verdict on the channel.
    photos: Sequence[Any]
    verdicts: dict[int, GateState | None]
    counts: dict[str, int]
    number: int
    pages: int
    newer: int | None
    older: int | None


def photo_list(
    session: so.Session,
    *,
    state: str | None = None,
    channel: Channel | str = Channel.INSTAGRAM,
    after: int | None = None,
    before: int | None = None,
    number: int = 1,
    per_page: int = 30,
) -> PhotoList:
    """The photo list page: ``per_page`` photos of a filter, newest first, older than photo
    ``after`` or newer than photo ``before`` (or from the start, or from page ``number``
    when no photo is given), with the filter counts and each photo's verdict on ``channel``."""
    _check(state)
    channel = Channel(channel)
    overdue = Overdue.load(session, channel, utcnow())
    counts = count_states(session, channel, overdue=overdue)
    photos, newer, older = _keyset_page(
        session, state, overdue, after, before, max(0, number - 1) * per_page, per_page
    )
    verdicts: dict[int, GateState | None] = {p.id: p.verdict for p in photos}
    for pid, standing in overdue.standings.items():
        if pid in verdicts:  # worked out now: the stored verdict no longer holds
            verdicts[pid] = standing.on(channel)
    pages = max(1, math.ceil(counts[state or "all"] / per_page))
    number = min(max(1, number), pages)
    return PhotoList(state, channel, photos, verdicts, counts, number, pages, newer, older)


def _keyset_page(
    session: so.Session,
    state: str | None,
    overdue: Overdue,
    after: int | None,
    before: int | None,
    offset: int,
    per_page: int,
) -> tuple[list[Any], int | None, int | None]:
    """One page of tiles and the photos to page on from: (tiles, newer, older)."""
    cursor = _cursor(session, before if before is not None else after)
    values: dict[str, Any] = {"channel": overdue.channel, "limit": per_page + 1}
    if cursor is None:
        direction = "first"
        values["offset"] = offset
    else:
        direction = "newer" if before is not None else "older"
        values["cursor_at"], values["cursor_id"] = cursor
    # Plain rows of the columns a tile shows: the rest of each photo stays in the database.
    rows = list(session.execute(_page_of(state, overdue, direction), values))
    if direction == "newer":
        more_newer = len(rows) > per_page
        photos = list(reversed(rows[:per_page]))
        return (
            photos,
            (photos[0].id if photos and more_newer else None),
            (photos[-1].id if photos else None),
        )
    photos = rows[:per_page]
    newer = photos[0].id if photos and (cursor is not None or offset) else None
    older = photos[-1].id if len(rows) > per_page else None
    return photos, newer, older


def _cursor(session: so.Session, photo_id: int | None) -> tuple[datetime, int] | None:
    """Where photo ``photo_id`` stands in the newest-first order (None: not a photo)."""
    if photo_id is None:
        return None
    uploaded = session.scalar(sa.select(Photo.uploaded_at).where(Photo.id == photo_id))
    return None if uploaded is None else (uploaded, photo_id)


def stored_verdicts(
    session: so.Session, photo_ids: Sequence[int], channel: Channel
) -> dict[int, GateState]:
    """The verdicts stored for these photos on ``channel`` (a photo with none is left out).

    Asked by photo alone, along the primary key: with the channel in the query too, SQLite
    prefers the list's index and walks every verdict on the channel.
    """
    rows = session.execute(
        sa.select(
            PhotoChannelState.photo_id, PhotoChannelState.channel, PhotoChannelState.state
        ).where(PhotoChannelState.photo_id.in_(list(photo_ids)))
    )
    return {pid: GateState(state) for pid, on, state in rows if on == channel}
