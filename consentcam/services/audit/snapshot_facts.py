"""What the audit's snapshot is made from, loaded in bulk: a fixed number of queries in all.

Only the columns the report shows: loading whole ORM objects for 10,000 posts and their faces
cost more than everything else the audit does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter, RemovalTaskView
from consentcam.domain.types import Consent, SupplierPermission
from consentcam.models import (
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    QueueItem,
    RemovalTask,
    Supplier,
)
from consentcam.services.audit.stored import in_scope
from consentcam.services.gate import consents_for, supplier_permissions_for

_PUB_COLUMNS: so.Bundle[Any] = so.Bundle(
    "pub",
    Publication.id,
    Publication.channel,
    Publication.url,
    Publication.published_at,
    Publication.live,
    Publication.removed_at,
    Publication.cleared_copy_key,
    Publication.supplier_permission_id,
    Publication.faces_confirmed_at,
)
_PHOTO_COLUMNS: so.Bundle[Any] = so.Bundle(
    "photo",
    Photo.id,
    Photo.sha256,
    Photo.original_name,
    Photo.supplier_id,
    Photo.thumbnail_key,
    Photo.faces_confirmed_at,
)


@dataclass
class Pub:
    row: Any  # the publication's columns (a Row, not an ORM object: cheaper by far in bulk)
    photo: Any  # the photo's columns
    fit: str
    supplier_name: str | None


@dataclass
class Facts:
    """The quarter's publications and everything the audit looks up about them."""

    pubs: list[Pub]
    faces_by_photo: dict[int, list[Any]]
    covered: dict[tuple[int, int], Any]  # (publication id, face id) -> how it was covered
    tasks: list[RemovalTaskView]
    consents: dict[int, list[Consent]]
    consent_by_id: dict[int, Consent]
    names: dict[int, str]
    permissions: list[SupplierPermission]
    perm_by_id: dict[int, SupplierPermission]

    def consent_id_at_publish(self, publication_id: int, face_id: int) -> int | None:
        pf = self.covered.get((publication_id, face_id))
        return pf.consent_id if pf is not None else None


def load_facts(session: so.Session, quarter: Quarter) -> Facts:
    """Load the quarter's publications with their faces, coverage, tasks, consents and names."""
    pubs = _publications(session, quarter)
    faces_by_photo = _faces(session, quarter)
    covered = _covered(session, quarter)
    person_ids: set[int] = set()
    for faces in faces_by_photo.values():
        person_ids.update(f.person_id for f in faces if f.person_id is not None)
    person_ids.update(pf.person_id for pf in covered.values() if pf.person_id is not None)
    consents = consents_for(session, person_ids)
    permissions = supplier_permissions_for(session, (p.photo.supplier_id for p in pubs))
    return Facts(
        pubs=pubs,
        faces_by_photo=faces_by_photo,
        covered=covered,
        tasks=_tasks(session, quarter),
        consents=consents,
        consent_by_id={c.id: c for items in consents.values() for c in items},
        names=_names(session, person_ids),
        permissions=permissions,
        perm_by_id={p.id: p for p in permissions},
    )


def _publications(session: so.Session, quarter: Quarter) -> list[Pub]:
    rows = session.execute(
        sa.select(_PUB_COLUMNS, _PHOTO_COLUMNS, QueueItem.fit, Supplier.name)
        .select_from(Publication)
        .join(Photo, Photo.id == Publication.photo_id)
        .outerjoin(QueueItem, QueueItem.id == Publication.queue_item_id)
        .outerjoin(Supplier, Supplier.id == Photo.supplier_id)
        .where(in_scope(quarter))
        .order_by(Publication.published_at, Publication.id)
    ).all()
    return [Pub(r[0], r[1], r[2] or "pad", r[3]) for r in rows]


def _faces(session: so.Session, quarter: Quarter) -> dict[int, list[Any]]:
    faces_by_photo: dict[int, list[Any]] = defaultdict(list)
    for face_row in session.execute(
        sa.select(
            Face.id,
            Face.photo_id,
            Face.number,
            Face.state,
            Face.person_id,
            Face.blur,
            Face.not_identifiable_reason,
        )
        .where(
            Face.photo_id.in_(
                sa.select(Publication.photo_id).where(in_scope(quarter)).scalar_subquery()
            )
        )
        .order_by(Face.photo_id, Face.number)
    ):
        faces_by_photo[face_row.photo_id].append(face_row)
    return faces_by_photo


def _covered(session: so.Session, quarter: Quarter) -> dict[tuple[int, int], Any]:
    covered: dict[tuple[int, int], Any] = {}
    for covered_row in session.execute(
        sa.select(
            PublicationFace.publication_id,
            PublicationFace.face_id,
            PublicationFace.person_id,
            PublicationFace.how,
            PublicationFace.consent_id,
        )
        .join(Publication)
        .where(in_scope(quarter))
    ):
        covered[(covered_row.publication_id, covered_row.face_id)] = covered_row
    return covered


def _tasks(session: so.Session, quarter: Quarter) -> list[RemovalTaskView]:
    rows = session.execute(
        sa.select(
            RemovalTask.id, RemovalTask.publication_id, RemovalTask.due_at, RemovalTask.closed_at
        )
        .join(Publication)
        .where(in_scope(quarter))
    ).all()
    return [RemovalTaskView(t.id, t.publication_id, t.due_at, t.closed_at) for t in rows]


def _names(session: so.Session, person_ids: set[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    return dict(
        session.execute(
            sa.select(Person.id, Person.name).where(Person.id.in_(sorted(person_ids)))
        ).all()
    )
