"""The start page's answers: what needs attention today, each an indexed count.

Photos are counted by the review state each stores (services.photo_state), so the counts cost
the same few index passes with ten photos or a hundred thousand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.domain.types import FaceState, QueueStatus, RemovalStatus, ReviewState
from consentcam.models import AuditRun, ConsentRecord, Face, Photo, QueueItem, RemovalTask
from consentcam.services import removals


def _count(model: Any, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()


def attention_counts(session: so.Session, now: datetime) -> dict[str, Any]:
    """Every count on the start page in one statement (scalar subqueries, each on an index)."""
    quarter = str(Quarter.current(now))
    is_open = RemovalTask.status == RemovalStatus.OPEN
    signed = (
        sa.select(sa.func.max(AuditRun.signed_at))
        .where(AuditRun.quarter == quarter, AuditRun.signed_at.is_not(None))
        .scalar_subquery()
    )
    decided = (FaceState.CONFIRMED, FaceState.NOT_IDENTIFIABLE)
    row = session.execute(
        sa.select(
            # A scanned photo waits for a person while a face is undecided or nobody has
            # confirmed that everyone in it is marked.
            _count(Photo, Photo.review_state == ReviewState.NEEDS_REVIEW),
            _count(Photo, Photo.review_state == ReviewState.SCANNING),
            _count(Photo, Photo.review_state == ReviewState.FAILED),
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
    ).one()
    return {
        "to_review": int(row[0] or 0),
        "waiting": int(row[1] or 0),
        "failed": int(row[2] or 0),
        "blocked": int(row[3] or 0),
        "open_removals": int(row[4] or 0),
        "overdue_removals": int(row[5] or 0),
        "audit_signed_at": row[6],
        "quarter": quarter,
        "has_consent": bool(row[7]),
        "has_photo": bool(row[8]),
        "has_review": bool(row[9]),
    }


def next_removals(session: so.Session, now: datetime, limit: int) -> list[Any]:
    """The open removal tasks due first (overdue first), with their post and person's name."""
    return list(session.execute(removals.task_query("open", now).limit(limit)).all())
