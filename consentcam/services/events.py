"""Append events to the hash-chained log and verify it, also against heads kept outside it.

The newest head known is kept in a file beside the database (``event-head``) and with every
signed audit, so removing events at the end of the log, which the links alone cannot show, is
caught too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from consentcam.models import AuditRun, Event, PersonKey, User, utcnow

if TYPE_CHECKING:
    from consentcam.runtime import Runtime


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


# --- The log's head, kept apart from the database ---------------------------------------------


def event_head_path(rt: Runtime) -> Path:
    return Path(rt.instance_path) / "event-head"


def write_event_head(rt: Runtime, seq: int, digest: str) -> None:
    """Keep the newest known head of the log in a file beside the database."""
    from consentcam.storage import Storage

    Storage.write_atomic(event_head_path(rt), f"{seq} {digest}\n".encode("ascii"))


def read_event_head(rt: Runtime) -> tuple[int, str] | None:
    path = event_head_path(rt)
    if not path.is_file():
        return None
    try:
        seq, digest = path.read_text("ascii").split()
        return int(seq), digest
    except ValueError:
        return None


def checkpoint_head(rt: Runtime, seq: int, digest: str) -> None:
    """Keep a committed head in the event-head file unless a later one is kept there already."""
    current = read_event_head(rt)
    if current is None or current[0] <= seq:
        write_event_head(rt, seq, digest)


def known_heads(session: so.Session, rt: Runtime) -> list[tuple[str, int, str]]:
    """Heads kept outside the log: (where, seq, hash), newest first."""
    out: list[tuple[str, int, str]] = []
    head = read_event_head(rt)
    if head is not None:
        out.append(("instance event-head file", head[0], head[1]))
    signed = session.scalars(
        sa.select(AuditRun).where(AuditRun.signed_at.is_not(None)).order_by(AuditRun.id.desc())
    )
    for run in signed:
        kept = (json.loads(run.summary) if run.summary else {}).get("event_head_at_signing")
        if kept:
            out.append((f"signed audit {run.id}", int(kept["seq"]), str(kept["hash"])))
            break
    return sorted(out, key=lambda h: -h[1])


@dataclass(frozen=True)
class LogCheck:
    count: int
    problem: ChainProblem | None
    head_source: str | None


def verify_log(session: so.Session, rt: Runtime, *, checkpoint: bool = True) -> LogCheck:
    """Verify the whole chain, including that it still holds the newest head kept outside it.

    When the chain is intact and ``checkpoint`` is set, its present head is written to the
    event-head file, so later removals at the end are caught too.
    """
    heads = known_heads(session, rt)
    count, problem = verify(session)
    source = None
    if problem is None:
        for where, _seq, digest in heads:
            count, problem = verify(session, expected_head=digest)
            if problem is not None:
                source = where
                break
    if problem is None and checkpoint and count:
        head = session.execute(
            sa.select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)
        ).one()
        write_event_head(rt, head.seq, head.hash)
    return LogCheck(count, problem, source)
