"""A person's word that everyone in a photo is marked: who may give it, giving it, undoing it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import FaceSource, ReviewState, ScanState
from consentcam.models import Photo, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.wording import N_, WordedError

# Why a confirmation was undone, as the event log records it.
UNDONE_FACE_DRAWN = "face_drawn"
UNDONE_RESCAN_FOUND_FACE = "rescan_found_face"


class ConfirmationError(WordedError, ValueError):
    """The photo cannot be confirmed as asked; the message says why."""


class NotAllowedToConfirm(ConfirmationError):
    """This user may not confirm photos."""


class ScanUnfinished(ConfirmationError):
    """The photo's scan has not finished, so there is nothing complete to confirm yet."""


class FacesChanged(ConfirmationError):
    """The photo's faces changed since the person looked at it."""


def may_confirm(user: User | None) -> bool:
    """Tell whether ``user`` may confirm that everyone in a photo is marked.

    The one place this is decided: the web page, the API and the CLI all ask here. The owner
    may, and a staff member the owner has allowed to publish (users.may_publish).
    """
    from consentcam.services.users import may_publish

    return user is not None and bool(user.is_active) and may_publish(user)


def faces_stamp(photo: Photo) -> str:
    """A stamp of the photo's set of faces: it changes when a face is added or replaced.

    A confirmation form carries it, so a person confirms the faces they actually saw.
    """
    ids = sorted(f.id for f in photo.faces)
    return f"{len(ids)}-{ids[-1] if ids else 0}"


def _who(user: User) -> str:
    return (user.name or user.email)[:254]


def confirm_photo(
    session: so.Session,
    rt: Runtime,
    photo: Photo,
    *,
    user: User | None,
    stamp: str | None = None,
) -> Photo:
    """Record that ``user`` has confirmed that everyone in ``photo`` is marked.

    Refused while the scan is unfinished (or failed), and when ``stamp`` no longer matches the
    photo's faces. Confirming again renews who and when. Open queue items of the photo are
    checked by the gate at once. Runs in the caller's unit of work.
    """
    if not may_confirm(user):
        raise NotAllowedToConfirm(
            N_(
                "only the owner, or someone the owner lets publish, may confirm that "
                "everyone is marked"
            )
        )
    assert user is not None
    if photo.scan_state != ScanState.DONE:
        raise ScanUnfinished(N_("this photo's scan is not finished yet, so it cannot be confirmed"))
    session.refresh(photo, ["faces"])
    if stamp is not None and stamp != faces_stamp(photo):
        raise FacesChanged(
            N_("the faces of this photo changed meanwhile; look at it again before confirming")
        )
    photo.faces_confirmed_at = utcnow()
    photo.faces_confirmed_by_id = user.id
    photo.faces_confirmed_by = _who(user)
    session.flush()
    events.record(
        session,
        "photo.faces_confirmed",
        f"photo:{photo.id}",
        {
            "faces": len(photo.faces),
            "drawn": sum(f.source == FaceSource.MANUAL for f in photo.faces),
            "by": photo.faces_confirmed_by,
        },
        actor=user.email,
    )
    _recheck(session, rt, photo)
    return photo


def undo_confirmation(
    session: so.Session,
    rt: Runtime,
    photo: Photo,
    why: str,
    *,
    actor: str | None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Take back the photo's confirmation because its faces changed; return whether it had one.

    Open queue items of the photo are blocked at once. Runs in the caller's unit of work.
    """
    if photo.faces_confirmed_at is None:
        return False
    was = {"at": photo.faces_confirmed_at, "by": photo.faces_confirmed_by}
    photo.faces_confirmed_at = None
    photo.faces_confirmed_by_id = None
    photo.faces_confirmed_by = None
    session.flush()
    events.record(
        session,
        "photo.faces_unconfirmed",
        f"photo:{photo.id}",
        {"why": why, "was": was, **(details or {})},
        actor=actor,
    )
    _recheck(session, rt, photo)
    return True


def _recheck(session: so.Session, rt: Runtime, photo: Photo) -> None:
    from consentcam.services.publishing import recheck_queue

    recheck_queue(session, rt, [photo.id], actor="gate")


def waiting_for_confirmation() -> sa.ColumnElement[bool]:
    """Scanned photos nobody has confirmed yet (the review list): part of those needing review."""
    return sa.and_(
        Photo.review_state == ReviewState.NEEDS_REVIEW, Photo.faces_confirmed_at.is_(None)
    )


def next_to_review(session: so.Session, after: Photo | None = None) -> Photo | None:
    """The next scanned photo waiting for a person: oldest upload first, skipping ``after``."""
    query = sa.select(Photo).where(waiting_for_confirmation())
    if after is not None:
        query = query.where(Photo.id != after.id)
    return session.scalar(query.order_by(Photo.uploaded_at, Photo.id).limit(1))


def waiting_photos(
    session: so.Session, limit: int = 100, after: int | None = None
) -> tuple[list[Photo], int]:
    """Photos waiting for review, oldest first (after photo ``after``, when given), and how many
    are waiting in all. Each photo's face counts are stored on it: no face is loaded."""
    total = session.scalar(sa.select(sa.func.count(Photo.id)).where(waiting_for_confirmation()))
    query = sa.select(Photo).where(waiting_for_confirmation())
    if after is not None:
        uploaded = session.scalar(sa.select(Photo.uploaded_at).where(Photo.id == after))
        if uploaded is not None:
            query = query.where(sa.tuple_(Photo.uploaded_at, Photo.id) > (uploaded, after))
    rows = session.scalars(query.order_by(Photo.uploaded_at, Photo.id).limit(limit)).all()
    return list(rows), int(total or 0)
