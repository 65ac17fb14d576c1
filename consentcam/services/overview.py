"""The start page's answers: what needs attention today, each an indexed count.

Photos are counted by the counters kept on write (services.photo_tally), so the photo counts
cost one primary-key lookup each with ten photos or a hundred thousand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.domain.types import FaceState, QueueStatus, RemovalStatus, ReviewState
from consentcam.models import (
    AuditRun,
    ConsentRecord,
    Face,
    Photo,
    PhotoTally,
    QueueItem,
    RemovalTask,
)
from consentcam.services import photo_tally, removals

#: The photo counters the start page shows, in the order of its statement's first columns.
_PHOTO_COUNTERS = tuple(
    photo_tally.review_key(s)
    for s in (ReviewState.NEEDS_REVIEW, ReviewState.SCANNING, ReviewState.FAILED)
)


def _count(model: Any, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()


def _counter(key: str) -> sa.ScalarSelect[int]:
    return sa.select(PhotoTally.n).where(PhotoTally.key == key).scalar_subquery()


def _attention_statement() -> sa.Select[Any, *tuple[Any, ...]]:
    """Every count on the start page as one statement, given ``now`` and ``quarter``."""
    now = sa.bindparam("now", type_=RemovalTask.due_at.type)
    is_open = RemovalTask.status == RemovalStatus.OPEN
    signed = (
        sa.select(sa.func.max(AuditRun.signed_at))
        .where(AuditRun.quarter == sa.bindparam("quarter"), AuditRun.signed_at.is_not(None))
        .scalar_subquery()
    )
    decided = (FaceState.CONFIRMED, FaceState.NOT_IDENTIFIABLE)
    return sa.select(
        # A scanned photo waits for a person while a face is undecided or nobody has
        # confirmed that everyone in it is marked (the photos' review states, counted).
        *(_counter(key) for key in _PHOTO_COUNTERS),
        _count(QueueItem, QueueItem.status == QueueStatus.BLOCKED),
        _count(RemovalTask, is_open),
        _count(RemovalTask, is_open, RemovalTask.due_at <= now),
        signed,
        # The first day's steps: a consent signed, a photo uploaded, a face reviewed
        # (EXISTS: one index probe each, whatever the size).
        sa.exists().where(ConsentRecord.id.is_not(None)),
        sa.exists().where(Photo.id.is_not(None)),
        sa.exists().where(Face.state.in_(decided)),
    )


#: Built once: building this statement costs more than SQLite takes to answer it.
_ATTENTION = _attention_statement()


def attention_counts(session: so.Session, now: datetime) -> dict[str, Any]:
    """Every count on the start page in one statement (scalar subqueries, each on an index)."""
    quarter = str(Quarter.current(now))
    row = session.execute(_ATTENTION, {"now": now, "quarter": quarter}).one()
    # What this unit of work changed and has not written yet (nothing on a page view).
    waiting = photo_tally.pending(session)
    photos = [int(row[i] or 0) + waiting.get(key, 0) for i, key in enumerate(_PHOTO_COUNTERS)]
    return {
        "to_review": photos[0],
        "waiting": photos[1],
        "failed": photos[2],
        "blocked": int(row[3] or 0),
        "open_removals": int(row[4] or 0),
        "overdue_removals": int(row[5] or 0),
        "audit_signed_at": row[6],
        "quarter": quarter,
        "has_consent": bool(row[7]),
        "has_photo": bool(row[8]),
        "has_review": bool(row[9]),
    }


_NEXT_REMOVALS = removals.tasks_by(
    "open", sa.bindparam("now", type_=RemovalTask.due_at.type)
).limit(sa.bindparam("limit"))


def next_removals(session: so.Session, now: datetime, limit: int) -> list[Any]:
    """The open removal tasks due first (overdue first), with their post and person's name."""
    return list(session.execute(_NEXT_REMOVALS, {"now": now, "limit": limit}).all())
