"""Seed rows for withdrawal tests, mostly without the face engine: people, consent, photos, posts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import sqlalchemy.orm as so

from consentcam.domain.types import FaceState, QueueStatus, ScanState
from consentcam.models import (
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    QueueItem,
    ReferenceFace,
    User,
    utcnow,
)
from consentcam.publishers.base import (
    DeleteResult,
    PublisherError,
    PublishRequest,
    PublishResult,
)
from consentcam.runtime import Runtime
from consentcam.services import people
from tests.conftest import FACES

PNG = b"\x89PNG\r\n\x1a\n" + b"signature"

M = TypeVar("M")


def stored(session: so.Session, model: type[M], ident: int) -> M:
    """``session.get`` for a row the test expects to exist (a missing one fails the test)."""
    row = session.get(model, ident)
    assert row is not None, f"no {model.__name__} {ident}"
    return row


def consenting_person(
    session: so.Session,
    rt: Runtime,
    name: str = "Lena Berg",
    channels: tuple[str, ...] = ("instagram", "facebook"),
    biometric: bool = False,
    *,
    evidence: bytes = PNG,
    actor: User | None = None,
) -> Person:
    person = people.add_person(session, name, actor=actor)
    people.give_consent(
        session,
        rt,
        person,
        channels=channels,
        evidence=evidence,
        evidence_mime="image/png",
        evidence_kind="signature",
        biometric=biometric,
        actor=actor,
    )
    session.commit()
    return person


def enrolled_person(
    session: so.Session,
    rt: Runtime,
    owner: User,
    channels: tuple[str, ...] = ("instagram", "facebook"),
    *,
    evidence: bytes = PNG,
) -> Person:
    """Lena Berg, added by ``owner`` with biometric consent, and a real reference photo of her
    enrolled by the face engine."""
    person = consenting_person(
        session, rt, "Lena Berg", channels, biometric=True, evidence=evidence, actor=owner
    )
    people.enrol_reference(
        session, rt, person, (FACES / "known" / "obama" / "obama2.jpg").read_bytes(), "ref.jpg"
    )
    session.commit()
    return person


def photo_with(
    session: so.Session, person: Person | None, *, template: bytes | None = b"t" * 16
) -> Photo:
    """A scanned photo with one face, confirmed as ``person`` (or pending when None)."""
    digest = secrets.token_hex(32)
    photo = Photo(
        sha256=digest,
        original_key=f"originals/{digest}.jpg",
        original_name=f"{digest[:6]}.jpg",
        format="JPEG",
        size_bytes=1000,
        width=100,
        height=100,
        scan_state=ScanState.DONE,
        faces_confirmed_at=utcnow(),
        faces_confirmed_by="owner@example.com",
    )
    face = Face(
        photo=photo,
        number=1,
        left=1,
        top=1,
        right=50,
        bottom=50,
        state=FaceState.CONFIRMED if person else FaceState.PENDING,
        person_id=person.id if person else None,
        template=template,
    )
    session.add_all([photo, face])
    session.flush()
    return photo


def queue(
    session: so.Session,
    photo: Photo,
    channels: str = "instagram facebook",
    status: QueueStatus = QueueStatus.READY,
) -> QueueItem:
    item = QueueItem(photo_id=photo.id, channels=channels, status=status, blockers="[]")
    session.add(item)
    session.flush()
    return item


def publish(
    session: so.Session,
    photo: Photo,
    channel: str,
    *,
    person: Person | None = None,
    publisher: str = "meta",
    external_id: str | None = "auto",
    live: bool = True,
    record_face: bool = True,
) -> Publication:
    pub = Publication(
        photo_id=photo.id,
        channel=channel,
        publisher=publisher,
        external_id=(secrets.token_hex(4) if external_id == "auto" else external_id),
        url=f"https://example.com/{channel}/{secrets.token_hex(3)}",
        live=live,
        faces_confirmed_at=photo.faces_confirmed_at,
    )
    session.add(pub)
    session.flush()
    if record_face and person is not None:
        face = photo.faces[0]
        session.add(
            PublicationFace(
                publication_id=pub.id, face_id=face.id, person_id=person.id, how="consent"
            )
        )
        session.flush()
    return pub


def reference(
    session: so.Session, rt: Runtime, person: Person, data: bytes = b"reference image"
) -> ReferenceFace:
    key, digest = rt.storage.put("references", rt.vault.encrypt(data), "bin")
    ref = ReferenceFace(
        person_id=person.id, source_key=key, source_sha256=digest, template=b"x" * 16
    )
    session.add(ref)
    session.flush()
    return ref


@dataclass
class FakePublisher:
    """A channel connection that records deletions; ``fail`` makes the next deletions raise."""

    deletable: frozenset[str] = frozenset({"facebook", "instagram"})
    kind: str = "meta"
    deleted: list[tuple[str, str]] = field(default_factory=list)
    fail: list[PublisherError] = field(default_factory=list)
    answer: DeleteResult | None = None

    def can_delete(self, channel: str) -> bool:
        return channel in self.deletable

    def publish(  # pragma: no cover - not used by removals
        self, request: PublishRequest
    ) -> PublishResult:
        raise NotImplementedError

    def delete(self, channel: str, external_id: str) -> DeleteResult:
        if self.fail:
            raise self.fail.pop(0)
        if self.answer is not None:
            return self.answer
        self.deleted.append((channel, external_id))
        return DeleteResult(deleted=True)

    def lookup(self, session: so.Session, rt: Runtime, channel: str) -> FakePublisher:
        return self


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
