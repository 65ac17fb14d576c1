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
from consentcam.models import Event, PersonKey, User, utcnow


def actor_of(user: User | None) -> str | None:
    """Who did it, as the event log names them: the user's e-mail (None: the app itself)."""
    return user.email if user else None


# Any constant works; it only has to be the same for every writer of the log.
_PG_LOCK_KEY = 0x636F6E73


#: The payload key under which a person's personal data is stored, sealed with their own key.
SEALED = "sealed"


def person_key(session: so.Session, person_id: int, *, create: bool = True) -> str | None:
    """The Fernet key that seals this person's data in the log (made on first use)."""
    row = session.get(PersonKey, person_id)
    if row is None and create:
        from cryptography.fernet import Fernet

        row = PersonKey(person_id=person_id, key=Fernet.generate_key().decode("ascii"))
        session.add(row)
        session.flush()
    return row.key if row is not None else None


def seal(session: so.Session, person_id: int, personal: dict[str, Any]) -> str:
    """Encrypt a person's personal data for the log under their own key."""
    from cryptography.fernet import Fernet

    key = person_key(session, person_id)
    assert key is not None
    return Fernet(key.encode("ascii")).encrypt(canonical(personal)).decode("ascii")


def unseal(session: so.Session, person_id: int | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its sealed personal data opened, or marked erased once the key is gone."""
    token = payload.get(SEALED)
    if not isinstance(token, str) or person_id is None:
        return payload
    from cryptography.fernet import Fernet, InvalidToken

    opened = {k: v for k, v in payload.items() if k != SEALED}
    key = person_key(session, person_id, create=False)
    if key is None:
        opened["personal_data"] = "erased"
        return opened
    try:
        opened.update(json.loads(Fernet(key.encode("ascii")).decrypt(token.encode("ascii"))))
    except (InvalidToken, ValueError):
        opened["personal_data"] = "unreadable"
    return opened


def shred(session: so.Session, person_id: int) -> bool:
    """Delete the person's key: what was sealed with it in the log can never be read again."""
    row = session.get(PersonKey, person_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def record(
    session: so.Session,
    kind: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
    at: datetime | None = None,
    *,
    personal: dict[str, Any] | None = None,
    person_id: int | None = None,
) -> Event:
    """Append one event to the chain within the caller's transaction.

    ``personal`` (names, e-mails, notes of person ``person_id``) is never stored in clear: it is
    sealed with that person's own key and the event's hash covers the sealed text, so erasing the
    person (deleting the key) leaves the chain verifiable and the data unreadable.
    """
    if personal:
        if person_id is None:
            raise ValueError("personal data in an event needs the person it belongs to")
        payload = {**(payload or {}), SEALED: seal(session, person_id, personal)}
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
