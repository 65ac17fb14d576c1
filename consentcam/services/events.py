"""Append events to the hash-chained log and verify it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.events import (
    GENESIS,
    ChainProblem,
    EventView,
    canonical,
    event_hash,
    verify_chain,
)
from consentcam.models import Event, User, utcnow


def actor_of(user: User | None) -> str | None:
    """Who did it, as the event log names them: the user's e-mail (None: the app itself)."""
    return user.email if user else None


# Any constant works; it only has to be the same for every writer of the log.
_PG_LOCK_KEY = 0x636F6E73


def record(
    session: so.Session,
    kind: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> Event:
    """Append one event to the chain within the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions never chain onto the same head.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    session.flush()
    head = session.execute(
        sa.select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)
    ).first()
    seq = (head.seq + 1) if head else 1
    prev = head.hash if head else GENESIS
    at = at or utcnow()
    # Hash exactly what is stored, so that verification reads back the same bytes.
    stored = canonical(payload or {}).decode("utf-8")
    body = json.loads(stored)
    digest = event_hash(prev, seq, kind, subject, body, at)
    event = Event(
        seq=seq,
        at=at,
        kind=kind,
        subject=subject,
        actor=actor,
        payload=stored,
        prev_hash=prev,
        hash=digest,
    )
    session.add(event)
    session.flush()
    return event


def verify(
    session: so.Session, expected_head: str | None = None
) -> tuple[int, ChainProblem | None]:
    """Check the whole chain; return (events checked, first problem or None)."""
    views = [
        EventView(
            seq=e.seq,
            kind=e.kind,
            subject=e.subject,
            payload=json.loads(e.payload),
            at=e.at,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in session.scalars(sa.select(Event).order_by(Event.seq))
    ]
    return len(views), verify_chain(views, expected_head=expected_head)
