"""Look-ups by id and plain lists, for the JSON API (and the pages, as they move off SQL).

Each function answers one question and only reads. An id that cannot exist (0, negative, beyond
the integer columns) is simply not found: the database is never asked, so no driver overflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import (
    AuditRun,
    ConsentLink,
    ConsentRecord,
    Face,
    Person,
    Photo,
    Publication,
    QueueItem,
    RemovalTask,
    Supplier,
    SupplierPermission,
    utcnow,
)
from consentcam.services import people as people_service
from consentcam.services import removals

MAX_ID = 2**31 - 1
M = TypeVar("M")


def by_id(session: so.Session, model: type[M], ident: int) -> M | None:
    """The row of ``model`` with this id, or None (ids beyond the columns' range are None)."""
    if not 0 < ident <= MAX_ID:
        return None
    return session.get(model, ident)


def person(session: so.Session, ident: int, *, include_erased: bool = False) -> Person | None:
    """The person with this id: only one who has not been erased, unless ``include_erased``
    (the privacy pages show an erased person's export and erasure too)."""
    found = by_id(session, Person, ident)
    if found is None or (found.erased_at is not None and not include_erased):
        return None
    return found


def consent(session: so.Session, ident: int) -> ConsentRecord | None:
    """A consent record of a person who has not been erased."""
    record = by_id(session, ConsentRecord, ident)
    if record is None:
        return None
    erased = session.scalar(sa.select(Person.erased_at).where(Person.id == record.person_id))
    return record if erased is None else None


def person_row(session: so.Session, who: Person) -> people_service.PersonRow:
    """One person with the counts a list row shows (consents, active channels, photos)."""
    now = utcnow()
    active = {
        ch.channel
        for c in who.consents
        if c.given_at <= now and (c.expires_at is None or c.expires_at > now)
        for ch in c.channels
        if ch.withdrawn_at is None
    }
    return people_service.PersonRow(
        person=who,
        consents=len(who.consents),
        active_channels=len(active),
        photos=len(people_service.confirmed_photos(session, who)),
        biometric=people_service.has_biometric_consent(session, who),
    )


def missing_photos(session: so.Session, ids: Iterable[int]) -> list[int]:
    """The ids among ``ids`` that name no photo, in order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    known = set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(wanted))))
    return [i for i in wanted if i not in known]


def photo(session: so.Session, ident: int, *, with_faces: bool = False) -> Photo | None:
    """A photo, with its faces and their people loaded when asked."""
    if not 0 < ident <= MAX_ID:
        return None
    query = sa.select(Photo).where(Photo.id == ident)
    if with_faces:
        query = query.options(
            so.selectinload(Photo.faces).selectinload(Face.person),
            so.selectinload(Photo.faces).selectinload(Face.suggested_person),
        )
    return session.scalar(query)


def face(session: so.Session, ident: int) -> Face | None:
    """A face with its person and suggested person loaded."""
    if not 0 < ident <= MAX_ID:
        return None
    return session.scalar(
        sa.select(Face)
        .where(Face.id == ident)
        .options(so.selectinload(Face.person), so.selectinload(Face.suggested_person))
        .execution_options(populate_existing=True)
    )


def suppliers(session: so.Session) -> list[Supplier]:
    """Every supplier, by name."""
    return list(session.scalars(sa.select(Supplier).order_by(sa.func.lower(Supplier.name))))


def queue_items(
    session: so.Session, status: str | None, *, limit: int, offset: int
) -> Sequence[QueueItem]:
    """Queue items, newest first, optionally in one status."""
    query = sa.select(QueueItem)
    if status is not None:
        query = query.where(QueueItem.status == status)
    return session.scalars(query.order_by(QueueItem.id.desc()).limit(limit).offset(offset)).all()


def publication_ids(session: so.Session, item: QueueItem) -> list[int]:
    """The publications a queue item made, oldest first."""
    return list(
        session.scalars(
            sa.select(Publication.id)
            .where(Publication.queue_item_id == item.id)
            .order_by(Publication.id)
        )
    )


def publications(
    session: so.Session,
    *,
    live: bool | None,
    photo_id: int | None,
    limit: int,
    offset: int,
) -> Sequence[Publication]:
    """Publications, newest first, optionally only live (or not) ones, or one photo's."""
    query = sa.select(Publication).options(so.selectinload(Publication.faces))
    if live is not None:
        query = query.where(Publication.live.is_(live))
    if photo_id is not None:
        query = query.where(Publication.photo_id == photo_id)
    return session.scalars(query.order_by(Publication.id.desc()).limit(limit).offset(offset)).all()


TaskRow = tuple[RemovalTask, Publication, str | None]


def removal_tasks(
    session: so.Session,
    status: str | None,
    *,
    person_id: int | None,
    limit: int,
    now: datetime,
) -> list[TaskRow]:
    """Removal tasks with their publication and person's name, overdue first."""
    query = removals.task_query(status, now)
    if person_id is not None:
        query = query.where(RemovalTask.person_id == person_id)
    return [_task_row(row) for row in session.execute(query.limit(limit)).all()]


def removal_task(session: so.Session, ident: int) -> TaskRow | None:
    """One removal task with its publication and person's name."""
    if not 0 < ident <= MAX_ID:
        return None
    row = session.execute(removals.task_query(None).where(RemovalTask.id == ident)).first()
    return _task_row(row) if row is not None else None


def _task_row(row: Any) -> TaskRow:
    return row[0], row[1], row[2]


def audit_run(session: so.Session, ident: int) -> AuditRun | None:
    return by_id(session, AuditRun, ident)


def consent_link(session: so.Session, ident: int) -> ConsentLink | None:
    return by_id(session, ConsentLink, ident)


def supplier(session: so.Session, ident: int) -> Supplier | None:
    return by_id(session, Supplier, ident)


def supplier_permission(session: so.Session, ident: int) -> SupplierPermission | None:
    return by_id(session, SupplierPermission, ident)


def queue_item(session: so.Session, ident: int) -> QueueItem | None:
    return by_id(session, QueueItem, ident)


def publication(session: so.Session, ident: int) -> Publication | None:
    return by_id(session, Publication, ident)
