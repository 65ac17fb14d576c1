"""Questions the people pages ask: one page of the list, a name search, a person's records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import (
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    RemovalTask,
    utcnow,
)


@dataclass(frozen=True)
class PersonRow:
    """One line of the people list: the person and counts loaded in bulk."""

    person: Person
    consents: int
    active_channels: int
    photos: int
    biometric: bool


def _matching(query: str) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [Person.erased_at.is_(None)]
    text = query.strip()
    if text:
        # Literal text: a % or _ someone types is not a wildcard.
        needle = text.lower()
        where.append(
            sa.or_(
                sa.func.lower(Person.name).contains(needle, autoescape=True),
                sa.func.lower(Person.email).contains(needle, autoescape=True),
            )
        )
    return where


def _counts(session: so.Session, query: sa.Executable) -> dict[int, int]:
    return {key: value for key, value in session.execute(query).all()}


def _consent_counts(session: so.Session, ids: list[int]) -> dict[int, int]:
    return _counts(
        session,
        sa.select(ConsentRecord.person_id, sa.func.count(ConsentRecord.id))
        .where(ConsentRecord.person_id.in_(ids))
        .group_by(ConsentRecord.person_id),
    )


def _channel_counts(session: so.Session, ids: list[int], now: datetime) -> dict[int, int]:
    return _counts(
        session,
        sa.select(ConsentRecord.person_id, sa.func.count(sa.distinct(ConsentChannel.channel)))
        .join(ConsentChannel, ConsentChannel.consent_id == ConsentRecord.id)
        .where(
            ConsentRecord.person_id.in_(ids),
            ConsentChannel.withdrawn_at.is_(None),
            ConsentRecord.given_at <= now,
            sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
        )
        .group_by(ConsentRecord.person_id),
    )


def _photo_counts(session: so.Session, ids: list[int]) -> dict[int, int]:
    return _counts(
        session,
        sa.select(Face.person_id, sa.func.count(sa.distinct(Face.photo_id)))
        .where(Face.person_id.in_(ids), Face.state == "confirmed")
        .group_by(Face.person_id),
    )


def _biometric(session: so.Session, ids: list[int], now: datetime) -> set[int]:
    return set(
        session.scalars(
            sa.select(ConsentRecord.person_id).where(
                ConsentRecord.person_id.in_(ids),
                ConsentRecord.biometric.is_(True),
                ConsentRecord.biometric_withdrawn_at.is_(None),
                sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
            )
        )
    )


def search_people(
    session: so.Session, query: str = "", *, page: int = 1, per_page: int = 50
) -> tuple[list[PersonRow], int]:
    """One page of people matching a name or e-mail, with their counts; returns (rows, total).

    Counts come from grouped subqueries, so a page costs a fixed number of queries whatever its
    size.
    """
    # A page past the end is empty; a huge number must not overflow PostgreSQL's 32-bit OFFSET.
    page = max(1, min(page, (2**31 - 1) // max(1, per_page)))
    where = _matching(query)
    total = session.scalar(sa.select(sa.func.count(Person.id)).where(*where)) or 0
    people = list(
        session.scalars(
            sa.select(Person)
            .where(*where)
            .order_by(sa.func.lower(Person.name), Person.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    ids = [p.id for p in people]
    if not ids:
        return [], total
    now = utcnow()
    consents, channels = _consent_counts(session, ids), _channel_counts(session, ids, now)
    photos, biometric = _photo_counts(session, ids), _biometric(session, ids, now)
    rows = [
        PersonRow(
            person=p,
            consents=consents.get(p.id, 0),
            active_channels=channels.get(p.id, 0),
            photos=photos.get(p.id, 0),
            biometric=p.id in biometric,
        )
        for p in people
    ]
    return rows, total


def find_people(session: so.Session, query: str, *, limit: int = 20) -> list[tuple[int, str]]:
    """(id, name) of people whose name contains the text, any case, first ``limit`` by name.

    The text is matched literally: % and _ typed by someone are not wildcards.
    """
    text = query.strip()[:200]
    if not text:
        return []
    rows = session.execute(
        sa.select(Person.id, Person.name)
        .where(
            Person.erased_at.is_(None),
            sa.func.lower(Person.name).contains(text.lower(), autoescape=True),
        )
        .order_by(sa.func.lower(Person.name), Person.id)
        .limit(max(1, limit))
    )
    return [(row.id, row.name) for row in rows]


# A person's page asks these on every view: each statement is built once (building one costs
# more than running it on SQLite) and given the person's id as a parameter.
_CONFIRMED_PHOTOS = (
    # What a list of them shows: the photo's id and its file name.
    sa.select(Photo.id, Photo.original_name)
    .where(
        Photo.id.in_(
            sa.select(Face.photo_id).where(
                Face.person_id == sa.bindparam("person"), Face.state == "confirmed"
            )
        )
    )
    .order_by(Photo.uploaded_at.desc(), Photo.id.desc())
)
_PUBLICATIONS_SHOWING = (
    sa.select(Publication)
    .where(
        Publication.id.in_(
            sa.select(PublicationFace.publication_id).where(
                PublicationFace.person_id == sa.bindparam("person")
            )
        )
    )
    .order_by(Publication.published_at.desc())
)
_OPEN_REMOVAL_TASKS = (
    sa.select(RemovalTask)
    .where(RemovalTask.person_id == sa.bindparam("person"), RemovalTask.status == "open")
    .order_by(RemovalTask.due_at)
    # The page shows each task's publication: load them with the tasks, not one by one.
    .options(so.joinedload(RemovalTask.publication))
)
_CONSENTS_NEWEST_FIRST = (
    sa.select(ConsentRecord)
    .where(ConsentRecord.person_id == sa.bindparam("person"))
    .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
    # Channels and form version come in the same statement; chosen photos are counted apart,
    # and only for consents limited to chosen photos (chosen_photo_counts).
    .options(so.joinedload(ConsentRecord.channels), so.joinedload(ConsentRecord.form_version))
)
_CHOSEN_PHOTO_COUNTS = (
    sa.select(ConsentPhoto.consent_id, sa.func.count())
    .where(ConsentPhoto.consent_id.in_(sa.bindparam("consents", expanding=True)))
    .group_by(ConsentPhoto.consent_id)
)


def confirmed_photos(session: so.Session, person: Person) -> list[sa.Row[int, str]]:
    """Photos in which a face has been confirmed as this person, newest first (their id and
    file name)."""
    return list(session.execute(_CONFIRMED_PHOTOS, {"person": person.id}).all())


def recent_photos(session: so.Session, limit: int) -> list[Photo]:
    """The latest uploaded photos, newest first (a consent for chosen photos picks from them)."""
    return list(
        session.scalars(
            sa.select(Photo).order_by(Photo.uploaded_at.desc(), Photo.id.desc()).limit(limit)
        )
    )


def publications_showing(session: so.Session, person: Person) -> list[Publication]:
    return list(session.scalars(_PUBLICATIONS_SHOWING, {"person": person.id}))


def open_removal_tasks(session: so.Session, person: Person) -> list[RemovalTask]:
    return list(session.scalars(_OPEN_REMOVAL_TASKS, {"person": person.id}))


def consents_newest_first(session: so.Session, person: Person) -> list[ConsentRecord]:
    """The person's consent records, newest first, with their channels and form version
    loaded in the same statement."""
    return list(session.scalars(_CONSENTS_NEWEST_FIRST, {"person": person.id}).unique())


def chosen_photo_counts(session: so.Session, consents: Iterable[ConsentRecord]) -> dict[int, int]:
    """How many photos each consent limited to chosen photos lists, by consent id (no query
    when every consent covers all photos)."""
    listed = [c.id for c in consents if c.scope != "all"]
    if not listed:
        return {}
    counts = session.execute(_CHOSEN_PHOTO_COUNTS, {"consents": listed}).all()
    return {c: 0 for c in listed} | {row[0]: int(row[1]) for row in counts}


def consent_with_evidence(
    session: so.Session, person_id: int, consent_id: int
) -> ConsentRecord | None:
    """A living person's consent record that has an evidence file, or None."""
    record = session.get(ConsentRecord, consent_id)
    if record is None or record.person_id != person_id or not record.evidence_key:
        return None
    if record.person.erased_at is not None:
        return None
    return record
