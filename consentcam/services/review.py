"""Reviewing faces: confirm, assign, create a person, mark not identifiable, blur; list photos by state."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.domain.types import Channel, FaceState
from consentcam.models import (
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    ReferenceFace,
    SupplierPermission,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events, people
from consentcam.services.events import actor_of as _actor
from consentcam.services.scanning import forget_unmatched_templates
from consentcam.wording import N_, WordedError

# Filters of the photo list, in the order the owner sees them.
PHOTO_STATES = ("needs_review", "cleared", "blocked", "scanning", "failed")
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
    return face.blur or face.state in (FaceState.CONFIRMED.value, FaceState.NOT_IDENTIFIABLE.value)


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
    if face.photo.scan_state != "done":
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
        session.rollback()
        raise StaleFace(face.id)
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
        if face.template is None or face.state != FaceState.CONFIRMED.value or face.blurry:
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
            "state": FaceState.CONFIRMED.value,
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
            "state": FaceState.CONFIRMED.value,
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
            "state": FaceState.NOT_IDENTIFIABLE.value,
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


# ---- Listing photos by review state, in SQL so that it stays fast with many photos. ----


def _undecided_face() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        Face.photo_id == Photo.id,
        Face.blur.is_(False),
        Face.state.in_((FaceState.PENDING.value, FaceState.SUGGESTED.value)),
    )


def _supplier_covers(channel: Channel, now: datetime) -> sa.ColumnElement[bool]:
    padded = sa.literal(" ") + SupplierPermission.channels + sa.literal(" ")
    return sa.exists().where(
        SupplierPermission.supplier_id == Photo.supplier_id,
        padded.like(f"% {channel.value} %"),
        SupplierPermission.valid_from <= now,
        sa.or_(SupplierPermission.valid_until.is_(None), SupplierPermission.valid_until > now),
        sa.or_(SupplierPermission.revoked_at.is_(None), SupplierPermission.revoked_at > now),
    )


def _consent_in_force(channel: Channel, now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """A consent record (joined with its channel row) that allows `channel` at `now`."""
    return (
        ConsentChannel.consent_id == ConsentRecord.id,
        ConsentChannel.channel == channel.value,
        sa.or_(ConsentChannel.withdrawn_at.is_(None), ConsentChannel.withdrawn_at > now),
        ConsentRecord.given_at <= now,
        sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
    )


def _uncovered_person(channel: Channel, now: datetime) -> sa.ColumnElement[bool]:
    """A confirmed, unblurred face whose person has no active consent for the channel.

    The same rule as domain.gate, written as SQL so a filter needs no query per photo. People
    whose consent covers every photo are one uncorrelated set (the database builds it once per
    query instead of joining consents again for each of the 30,000 faces); only faces outside it
    look for a consent that lists their photo.
    """
    in_force = _consent_in_force(channel, now)
    covered_everywhere = (
        sa.select(ConsentRecord.person_id)
        .select_from(ConsentRecord)
        .join(ConsentChannel, in_force[0])
        .where(ConsentRecord.scope == "all", *in_force[1:])
    )
    covered_here = (
        sa.select(ConsentPhoto.consent_id)
        .join(ConsentRecord, ConsentRecord.id == ConsentPhoto.consent_id)
        .join(ConsentChannel, in_force[0])
        .where(
            ConsentPhoto.photo_id == Photo.id,
            ConsentRecord.person_id == Face.person_id,
            *in_force[1:],
        )
        .correlate_except(ConsentPhoto, ConsentRecord, ConsentChannel)
        .exists()
    )
    return sa.exists().where(
        Face.photo_id == Photo.id,
        Face.blur.is_(False),
        Face.state == FaceState.CONFIRMED.value,
        sa.or_(Face.person_id.is_(None), Face.person_id.not_in(covered_everywhere)),
        ~covered_here,
    )


def state_filter(
    state: str, channel: Channel, now: datetime | None = None
) -> sa.ColumnElement[bool]:
    """The SQL condition for one filter of the photo list."""
    now = now or utcnow()
    done = Photo.scan_state == "done"
    if state == "failed":
        return Photo.scan_state == "failed"
    if state == "scanning":
        return Photo.scan_state.in_(("pending", "scanning"))
    # A photo needs review while a face is undecided or nobody has confirmed that everyone in
    # it is marked (the gate clears nothing before that, not even a photo with no face found).
    unconfirmed = Photo.faces_confirmed_at.is_(None)
    if state == "needs_review":
        return sa.and_(done, sa.or_(unconfirmed, _undecided_face()))
    cleared = sa.and_(
        done,
        ~unconfirmed,
        sa.or_(
            _supplier_covers(channel, now),
            sa.and_(~_undecided_face(), ~_uncovered_person(channel, now)),
        ),
    )
    if state == "cleared":
        return cleared
    if state == "blocked":
        return sa.and_(done, ~unconfirmed, ~_undecided_face(), sa.not_(cleared))
    raise ReviewError(f"unknown photo state {state!r} (use {', '.join(PHOTO_STATES)})")


@dataclass(frozen=True)
class PhotoPage:
    photos: Sequence[Photo]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def photo_page(
    session: so.Session,
    *,
    state: str | None = None,
    channel: Channel | str = Channel.INSTAGRAM,
    page: int = 1,
    per_page: int = 30,
    total: int | None = None,
) -> PhotoPage:
    """One page of photos, newest first, with their faces loaded in one more query.

    ``total`` is the number of photos in the filter when the caller already knows it (the
    filter counts of the list): counting again would cost as much as the whole page.
    """
    channel = Channel(channel)
    condition = state_filter(state, channel) if state else sa.true()
    if total is None:
        total = session.scalar(sa.select(sa.func.count(Photo.id)).where(condition)) or 0
    rows = session.scalars(
        sa.select(Photo)
        .where(condition)
        .order_by(Photo.uploaded_at.desc(), Photo.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
        # A list never needs the faces' templates (a kilobyte each): leave them in the database.
        .options(so.selectinload(Photo.faces).defer(Face.template))
    ).all()
    return PhotoPage(rows, total, page, per_page)


def count_states(
    session: so.Session, channel: Channel | str = Channel.INSTAGRAM, now: datetime | None = None
) -> dict[str, int]:
    """How many photos are in each filter (and "all"), in one pass over the photos."""
    channel = Channel(channel)
    now = now or utcnow()
    row = session.execute(
        sa.select(
            sa.func.count(Photo.id),
            *(sa.func.count(Photo.id).filter(state_filter(s, channel, now)) for s in PHOTO_STATES),
        )
    ).one()
    return {s: int(n or 0) for s, n in zip(("all", *PHOTO_STATES), row, strict=True)}


def needs_review_count(session: so.Session) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(Photo.id)).where(
                state_filter("needs_review", Channel.INSTAGRAM)
            )
        )
        or 0
    )


def confidence(distance: float | None, threshold: float) -> str:
    """Say in plain words how sure the suggestion is: 'very likely', 'likely' or 'possible'."""
    if distance is None:
        return "none"
    if distance < threshold * 0.75:
        return "very_likely"
    if distance < threshold * 0.9:
        return "likely"
    return "possible"
