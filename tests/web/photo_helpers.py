"""Helpers for the photo and review tests: photos with faces, people with consent."""

from __future__ import annotations

import sqlalchemy.orm as so

from consentcam.domain.types import ScanState
from consentcam.models import Face, Person, Photo, utcnow
from consentcam.runtime import Runtime
from consentcam.services import people, photos
from tests.conftest import FACES


def photo_with_faces(
    rt: Runtime,
    session: so.Session,
    n: int = 2,
    rel: str = "unknown/two_people.jpg",
    *,
    confirmed: bool = True,
) -> Photo:
    """A stored photo whose scan is 'done' with n hand-made faces (no engine: fast).

    Unless ``confirmed`` is False, a person has already confirmed that everyone in it is marked,
    so the faces' decisions alone decide the gate.
    """
    photo = photos.ingest(session, rt, (FACES / rel).read_bytes(), rel.rsplit("/", 1)[-1]).photo
    photo.scan_state = ScanState.DONE
    if confirmed:
        mark_confirmed(photo)
    for i in range(n):
        session.add(
            Face(
                photo=photo,
                number=i + 1,
                left=10 + 100 * i,
                top=10,
                right=90 + 100 * i,
                bottom=90,
                template=rt.vault.encrypt(bytes(128 * 8)),
            )
        )
    session.commit()
    return photo


def mark_confirmed(photo: Photo, by: str = "owner@example.com") -> Photo:
    """Record that a person confirmed everyone in ``photo`` is marked (for flows about other things).

    Tests of the confirmation itself go through consentcam.services.confirmation instead.
    """
    photo.faces_confirmed_at = utcnow()
    photo.faces_confirmed_by = by
    return photo


def person_with_consent(
    rt: Runtime,
    session: so.Session,
    name: str,
    channels: str = "instagram",
    biometric: bool = False,
) -> Person:
    person = people.add_person(session, name)
    people.give_consent(
        session,
        rt,
        person,
        channels=[channels] if channels else [],
        evidence=b"%PDF-1.4 signed form",
        evidence_mime="application/pdf",
        evidence_kind="scan",
        biometric=biometric,
    )
    session.commit()
    return person
