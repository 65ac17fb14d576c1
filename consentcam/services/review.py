"""Reviewing faces: confirm, assign, create a person, mark not identifiable, blur.

The photo list and its counts are in services.photo_list (re-exported here: PHOTO_STATES,
photo_page, count_states). Every action runs in the caller's unit of work: nothing here commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.domain import standing
from consentcam.domain.types import FaceState, ScanState
from consentcam.models import Face, Person, Photo, ReferenceFace, Supplier, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events, people, photo_state
from consentcam.services.events import actor_of as _actor
from consentcam.services.photo_list import PHOTO_STATES, PhotoPage, count_states, photo_page
from consentcam.services.scanning import forget_unmatched_templates
from consentcam.wording import N_, WordedError

__all__ = [
    "MAX_REASON",
    "PHOTO_STATES",
    "PhotoPage",
    "ReviewError",
    "StaleFace",
    "assign_face",
    "confidence",
    "confirm_face",
    "count_states",
    "create_person_for_face",
    "face_by_id",
    "face_decided",
    "face_version",
    "keep_references",
    "mark_not_identifiable",
    "person_by_id",
    "photo_for_review",
    "photo_page",
    "set_blur",
    "supplier_choices",
]

MAX_REASON = 300


class ReviewError(WordedError, ValueError):
    """A review action that cannot be done as asked; the message says why."""


class StaleFace(ReviewError):
    """The face changed since the reviewer loaded it (someone else reviewed it meanwhile)."""

    def __init__(self, face_id: int) -> None:
        super().__init__(
            N_("someone else changed face %(face)s meanwhile; reload and look again"), face=face_id
        )
        self.face_id = face_id


def face_version(face: Face) -> str:
    """A stamp of the face's review state; every review action changes it.

    `reviewed_at` is set to a fresh microsecond timestamp by every action, so it serves as the
    version of the row without a schema change.
    """
    return face.reviewed_at.isoformat() if face.reviewed_at is not None else "new"


def face_decided(face: Face) -> bool:
    """A face has a decision once someone said who it is, that it is not identifiable, or to blur it."""
    return standing.face_decided(face.state, face.blur)


def photo_for_review(session: so.Session, photo_id: int) -> Photo | None:
    """A photo with its faces and their people (named and suggested) loaded, for its page."""
    return session.scalar(
        sa.select(Photo)
        .where(Photo.id == photo_id)
        .options(
            so.selectinload(Photo.faces).selectinload(Face.person),
            so.selectinload(Photo.faces).selectinload(Face.suggested_person),
        )
    )


def face_by_id(session: so.Session, face_id: int) -> Face | None:
    return session.get(Face, face_id)


def person_by_id(session: so.Session, person_id: int | None) -> Person | None:
    """The person to assign a face to (None when there is none by that number, or erased)."""
    person = session.get(Person, person_id) if person_id else None
    return person if person is not None and person.erased_at is None else None


def supplier_choices(session: so.Session) -> list[tuple[int, str]]:
    """Every supplier a photo can be said to come from, by name."""
    rows = session.execute(sa.select(Supplier.id, Supplier.name).order_by(Supplier.name))
    return [(r[0], r[1]) for r in rows]


def _change(
    session: so.Session,
    face: Face,
    expected_version: str | None,
    values: dict[str, Any],
    user: User | None,
) -> datetime:
    """Compare-and-set one face: the update applies only if nobody changed the face meanwhile.

    A conditional UPDATE is atomic in the database, so of two reviewers who loaded the same
    version exactly one succeeds, on SQLite and PostgreSQL alike.
    """
    if face.photo.scan_state != ScanState.DONE:
        raise ReviewError(N_("this photo's scan is not finished yet"))
    if expected_version is not None and expected_version != face_version(face):
        raise StaleFace(face.id)
    now = utcnow()
    if face.reviewed_at is not None and now <= face.reviewed_at:
        # Clocks of two machines can disagree; the version must still move forward.
        now = face.reviewed_at + timedelta(microseconds=1)
    same = (
        Face.reviewed_at.is_(None)
        if face.reviewed_at is None
        else Face.reviewed_at == face.reviewed_at
    )
    result = session.execute(
        sa.update(Face)
        .where(Face.id == face.id, same)
        .values(**values, reviewed_at=now, reviewed_by_id=user.id if user else None)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise StaleFace(face.id)  # the caller's unit of work rolls back
    # A bulk UPDATE no flush sees: the photo's standing is worked out before the commit.
    photo_state.mark(session, photos=[face.photo_id])
    session.refresh(face)
    return now


def _after(
    session: so.Session,
    rt: Runtime,
    face: Face,
    kind: str,
    payload: dict[str, Any],
    user: User | None,
) -> None:
    events.record(
        session,
        kind,
        f"face:{face.id}",
        {"photo": face.photo_id, "face": face.number, **payload},
        actor=_actor(user),
    )
    _settle_photo(session, rt, face.photo)


def _settle_photo(session: so.Session, rt: Runtime, photo: Photo) -> None:
    """Mark the photo reviewed when every face has a decision, and then forget its templates."""
    session.refresh(photo, ["faces"])
    complete = all(face_decided(f) for f in photo.faces)
    if not complete:
        photo.reviewed_at = None
        return
    if photo.reviewed_at is None:
        photo.reviewed_at = utcnow()
    keep_references(session, photo)
    forget_unmatched_templates(session, photo)
    session.flush()


def keep_references(session: so.Session, photo: Photo) -> int:
    """Keep the template of a face confirmed as a person with active biometric consent.

    That person agreed to automatic recognition, so the confirmed face becomes one more reference
    of theirs (it improves the next suggestions). Every other template is dropped afterwards.
    """
    kept = 0
    for face in photo.faces:
        if face.template is None or face.state != FaceState.CONFIRMED or face.blurry:
            continue
        person = face.person
        if person is None or not people.has_biometric_consent(session, person):
            continue
        exists = session.scalar(sa.select(ReferenceFace.id).where(ReferenceFace.face_id == face.id))
        if exists is None:
            session.add(
                ReferenceFace(
                    person_id=person.id,
                    face_id=face.id,
                    source_sha256=photo.sha256,
                    template=face.template,
                )
            )
            kept += 1
    return kept


def _person(session: so.Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise ReviewError(N_("there is no person number %(number)s"), number=person_id)
    return person


def confirm_face(
    session: so.Session,
    rt: Runtime,
    face: Face,
    *,
    version: str | None = None,
    user: User | None = None,
) -> Face:
    """Confirm the recognition's suggestion for this face."""
    if face.suggested_person_id is None:
        raise ReviewError(N_("this face has no suggestion to confirm; choose a person instead"))
    person_id = face.suggested_person_id
    _change(
        session,
        face,
        version,
        {
            "state": FaceState.CONFIRMED,
            "person_id": person_id,
            "not_identifiable_reason": None,
        },
        user,
    )
    _after(
        session, rt, face, "face.confirmed", {"person": person_id, "distance": face.distance}, user
    )
    return face


def assign_face(
    session: so.Session,
    rt: Runtime,
    face: Face,
    person: Person,
    *,
    version: str | None = None,
    user: User | None = None,
) -> Face:
    """Say who this face is (the suggestion was wrong, or there was none)."""
    _person(session, person.id)
    _change(
        session,
        face,
        version,
        {
            "state": FaceState.CONFIRMED,
            "person_id": person.id,
            "not_identifiable_reason": None,
        },
        user,
    )
    _after(
        session,
        rt,
        face,
        "face.assigned",
        {"person": person.id, "suggested": face.suggested_person_id},
        user,
    )
    return face


def create_person_for_face(
    session: so.Session,
    rt: Runtime,
    face: Face,
    name: str,
    *,
    version: str | None = None,
    user: User | None = None,
) -> Person:
    """Add a new person by name and assign this face to them; consent is asked for afterwards."""
    if expected_mismatch(face, version):
        raise StaleFace(face.id)
    try:
        person = people.add_person(session, name[:200], actor=user)
    except people.ConsentError as exc:
        raise ReviewError(exc.template, **exc.params) from exc
    assign_face(session, rt, face, person, version=version, user=user)
    return person


def expected_mismatch(face: Face, version: str | None) -> bool:
    return version is not None and version != face_version(face)


def mark_not_identifiable(
    session: so.Session,
    rt: Runtime,
    face: Face,
    reason: str,
    *,
    version: str | None = None,
    user: User | None = None,
) -> Face:
    """Record that nobody can be recognised in this face, and why (the reason is required)."""
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError(
            N_("say why this face cannot be identified (for example: seen from behind)")
        )
    if len(reason) > MAX_REASON:
        raise ReviewError(N_("keep the reason under %(most)s characters"), most=MAX_REASON)
    _change(
        session,
        face,
        version,
        {
            "state": FaceState.NOT_IDENTIFIABLE,
            "person_id": None,
            "not_identifiable_reason": reason,
        },
        user,
    )
    _after(session, rt, face, "face.not_identifiable", {"reason": reason}, user)
    return face


def set_blur(
    session: so.Session,
    rt: Runtime,
    face: Face,
    blur: bool,
    *,
    version: str | None = None,
    user: User | None = None,
) -> Face:
    """Blur this face in every copy that is published (or stop blurring it)."""
    _change(session, face, version, {"blur": bool(blur)}, user)
    _after(session, rt, face, "face.blur_set", {"blur": bool(blur)}, user)
    return face


def confidence(distance: float | None, threshold: float) -> str:
    """Say in plain words how sure the suggestion is: 'very likely', 'likely' or 'possible'."""
    if distance is None:
        return "none"
    if distance < threshold * 0.75:
        return "very_likely"
    if distance < threshold * 0.9:
        return "likely"
    return "possible"
