"""Erasure (GDPR Art. 17) and the retention purge that erases people inactive for too long."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.retention import PersonActivity, parse_period, plan_purge
from consentcam.models import (
    ConsentRecord,
    Face,
    Person,
    QueueItem,
    ReferenceFace,
    ReferenceUpload,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of
from consentcam.services.privacy.base import (
    ErasureRefused,
    PrivacyError,
    live_posts_of,
    live_publications_showing,
)
from consentcam.uow import after_commit
from consentcam.wording import N_

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Erasure:
    person_id: int
    references: int
    evidence_files: int
    faces_unlinked: int
    consents_ended: int
    files_deleted: int


def erased_name(person_id: int) -> str:
    return f"Erased person #{person_id}"


def erase_person(
    session: so.Session,
    rt: Runtime,
    person: Person,
    actor: User | None = None,
    *,
    at: datetime | None = None,
    actor_name: str | None = None,
) -> Erasure:
    """Erase a person's personal data, templates and files, keeping a pseudonymous shell.

    Refused (ErasureRefused) while a live post still shows them. Their faces are unlinked and
    set back to "pending", so a photo showing them needs review again and can never become
    cleared by accident; their remaining consent is ended. Everything is written in the
    caller's transaction; the files are deleted once it commits (a file another person's row
    still uses is kept).
    """
    _check_erasable(session, person)
    now = at or utcnow()
    pid = person.id
    references, keys = _drop_references(session, pid)
    evidence, ended, evidence_keys = _end_consents(session, pid, now)
    unlinked = _unlink_faces(session, pid)
    _forget_details(session, person, now)
    files = _unused_files(session, keys | evidence_keys)
    if files:
        # Files go only once the rows that point to them are gone for good.
        after_commit(session, partial(_delete_files, rt, files))
    result = Erasure(pid, references, evidence, unlinked, ended, len(files))
    events.record(
        session,
        "person.erased",
        f"person:{pid}",
        {
            "references": result.references,
            "evidence_files": result.evidence_files,
            "faces_unlinked": result.faces_unlinked,
            "consents_ended": result.consents_ended,
            "files_deleted": result.files_deleted,
        },
        actor=actor_name or actor_of(actor),
        at=now,
    )
    return result


def _check_erasable(session: so.Session, person: Person) -> None:
    """Refuse a person erased before, or one a live post still shows."""
    if person.erased_at is not None:
        raise PrivacyError(
            N_("person %(person)s was erased on %(date)s"),
            person=person.id,
            date=person.erased_at.date().isoformat(),
        )
    live = live_posts_of(session, person.id)
    if live:
        raise ErasureRefused(person.id, live)


def _drop_references(session: so.Session, pid: int) -> tuple[int, set[str]]:
    """Delete the person's reference faces and uploads; (references deleted, their file keys)."""
    refs = session.scalars(sa.select(ReferenceFace).where(ReferenceFace.person_id == pid)).all()
    uploads = session.scalars(
        sa.select(ReferenceUpload).where(ReferenceUpload.person_id == pid)
    ).all()
    keys = {r.source_key for r in refs if r.source_key}
    keys |= {u.source_key for u in uploads if u.source_key}
    for u in uploads:
        session.delete(u)
    for r in refs:
        session.delete(r)
    return len(refs), keys


def _end_consents(session: so.Session, pid: int, now: datetime) -> tuple[int, int, set[str]]:
    """Drop the evidence and names of the person's consents and end what still stands.

    Returns (consents that had evidence, consents ended, the evidence file keys).
    """
    consents = session.scalars(
        sa.select(ConsentRecord)
        .where(ConsentRecord.person_id == pid)
        .options(so.selectinload(ConsentRecord.channels))
    ).all()
    keys = {c.evidence_key for c in consents if c.evidence_key}
    evidence = sum(1 for c in consents if c.evidence_key)
    ended = 0
    for c in consents:
        c.evidence_key = None
        c.signer_name = erased_name(pid)
        c.note = None
        touched = False
        for ch in c.channels:
            if ch.withdrawn_at is None:
                ch.withdrawn_at = now
                touched = True
        if c.biometric and c.biometric_withdrawn_at is None:
            c.biometric_withdrawn_at = now
            touched = True
        ended += int(touched)
    return evidence, ended, keys


def _unlink_faces(session: so.Session, pid: int) -> int:
    """Forget the person on every face (templates too); returns how many faces were theirs.

    Their faces go back to "pending", so a photo showing them needs review again.
    """
    faces = session.scalars(
        sa.select(Face).where(sa.or_(Face.person_id == pid, Face.suggested_person_id == pid))
    ).all()
    unlinked = 0
    for f in faces:
        f.template = None
        if f.suggested_person_id == pid:
            f.suggested_person_id = None
            f.distance = None
            f.gap = None
        if f.person_id == pid:
            f.person_id = None
            f.state = "pending"
            f.reviewed_at = None
            f.reviewed_by_id = None
            unlinked += 1
        elif f.state == "suggested" and f.suggested_person_id is None:
            f.state = "pending"
    return unlinked


def _forget_details(session: so.Session, person: Person, now: datetime) -> None:
    """Replace the person's name everywhere it is kept, drop their details, end their links."""
    pid = person.id
    _scrub_queue_reasons(session, person.name, erased_name(pid))
    person.name = erased_name(pid)
    person.email = None
    person.phone = None
    person.note = None
    person.erased_at = now
    # Crypto-shredding: the name sealed into the event log can no longer be read.
    events.shred(session, pid)
    session.flush()
    # Their own links stop working, and the addresses their e-mails went to are forgotten.
    from consentcam.services import links

    links.forget_person(session, pid, now)
    # Freed pages are zeroed (secure_delete) and the WAL is written back and emptied once the
    # caller commits, so the old values are in no file on disk (db.checkpoint_after_commit).
    session.info["checkpoint_after_commit"] = True


def _scrub_queue_reasons(session: so.Session, name: str, replacement: str) -> None:
    """Queue reasons name the people they are about: put the erased label in place of the name."""
    if not name:
        return
    for item in session.scalars(
        sa.select(QueueItem).where(
            QueueItem.blockers.is_not(None), QueueItem.blockers.contains(name, autoescape=True)
        )
    ):
        entries = json.loads(item.blockers or "[]")
        text = json.dumps(entries, ensure_ascii=False).replace(
            json.dumps(name, ensure_ascii=False)[1:-1], replacement
        )
        item.blockers = text


def _unused_files(session: so.Session, keys: set[str]) -> list[str]:
    """The keys no remaining row points to (a file is content-addressed: another person's row
    may point to the same bytes)."""
    if not keys:
        return []
    listed = sorted(keys)
    still_used: set[str | None] = set()
    for column in (
        ConsentRecord.evidence_key,
        ReferenceFace.source_key,
        ReferenceUpload.source_key,
    ):
        still_used.update(session.scalars(sa.select(column).where(column.in_(listed))))
    return sorted(keys - still_used)


def _delete_files(rt: Runtime, keys: Iterable[str]) -> None:
    """Delete an erased person's files, once the rows that pointed to them are committed away."""
    for key in keys:
        try:
            rt.storage.delete(key)
        except OSError:
            log.exception("could not delete the erased person's file %s", key)


# --- Retention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeEntry:
    person_id: int
    name: str
    last_activity_at: datetime
    live_posts: tuple[int, ...] = ()


@dataclass(frozen=True)
class PurgeResult:
    period: timedelta
    cutoff: datetime
    dry_run: bool
    erase: tuple[PurgeEntry, ...]
    kept_live: tuple[PurgeEntry, ...]
    erased: tuple[int, ...] = ()


def purge(
    session: so.Session,
    rt: Runtime,
    period: str | None = None,
    *,
    dry_run: bool = True,
    now: datetime | None = None,
    actor: str | None = "retention",
) -> PurgeResult:
    """Erase people inactive for ``period`` (default: the RETENTION setting), or list them.

    People still shown in a live post are skipped and reported. Erased people are left out.
    Erasures are written in the caller's transaction.
    """
    text = period or str(rt.settings.get("RETENTION") or "2y")
    length = parse_period(text)
    now = now or utcnow()
    cutoff = now - length
    rows = session.execute(
        sa.select(Person.id, Person.name, Person.last_activity_at).where(
            Person.erased_at.is_(None), Person.last_activity_at <= cutoff
        )
    ).all()
    ids = [r.id for r in rows]
    live: dict[int, set[int]] = {}
    for start in range(0, len(ids), 500):
        for row in session.execute(live_publications_showing(ids[start : start + 500])):
            live.setdefault(row.pid, set()).add(row.pub)
    info = {r.id: r for r in rows}
    plan = plan_purge(
        [PersonActivity(r.id, r.last_activity_at, r.id in live) for r in rows], now, length
    )

    def entry(pid: int) -> PurgeEntry:
        r = info[pid]
        return PurgeEntry(pid, r.name, r.last_activity_at, tuple(sorted(live.get(pid, ()))))

    erase = tuple(entry(p) for p in plan.erase)
    kept = tuple(entry(p) for p in plan.kept_live)
    if dry_run:
        return PurgeResult(length, cutoff, dry_run, erase, kept)
    erased = _erase_all(session, rt, erase, now, actor)
    events.record(
        session,
        "retention.purged",
        "retention",
        {"period": text, "erased": erased, "kept_live": [k.person_id for k in kept]},
        actor=actor,
        at=now,
    )
    return PurgeResult(length, cutoff, dry_run, erase, kept, tuple(erased))


def _erase_all(
    session: so.Session,
    rt: Runtime,
    entries: Iterable[PurgeEntry],
    now: datetime,
    actor: str | None,
) -> list[int]:
    erased: list[int] = []
    for item in entries:
        person = session.get(Person, item.person_id)
        if person is None:
            continue
        erase_person(session, rt, person, at=now, actor_name=actor)
        erased.append(item.person_id)
    return erased
