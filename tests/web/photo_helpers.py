"""Helpers for the photo and review tests: photos with faces, people with consent."""

from __future__ import annotations

from typing import Any

from consentcam.models import Face, Photo
from consentcam.services import people, photos
from tests.conftest import FACES


def photo_with_faces(
    rt: Any, session: Any, n: int = 2, rel: str = "unknown/two_people.jpg"
) -> Photo:
    """A stored photo whose scan is 'done' with n hand-made faces (no engine: fast)."""
    photo = photos.ingest(session, rt, (FACES / rel).read_bytes(), rel.rsplit("/", 1)[-1]).photo
    photo.scan_state = "done"
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


def person_with_consent(
    rt: Any, session: Any, name: str, channels: str = "instagram", biometric: bool = False
) -> Any:
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
