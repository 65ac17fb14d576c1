"""Marking everyone in a photo: faces drawn by hand, and re-scans that find a face not yet marked."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.boxes import centre_inside, same_face
from consentcam.domain.types import FaceSource, FaceState, ScanState
from consentcam.models import Face, Photo, User, utcnow
from consentcam.runtime import Runtime, TaskQueue
from consentcam.services import confirmation, events
from consentcam.services.scanning import enrolled_matcher, template_bytes
from consentcam.uow import later, unit_of_work
from consentcam.wording import N_, WordedError

log = logging.getLogger(__name__)

#: Smallest side of a drawn box, in full-resolution pixels: smaller is no recognisable face.
MIN_BOX_SIDE = 16


class MarkingError(WordedError, ValueError):
    """A face cannot be drawn as asked; the message says why."""


class BadBox(MarkingError):
    """The drawn box does not describe a face inside the photo."""


class ScanNotFinished(MarkingError):
    """Faces are drawn on a scanned photo only (a running scan replaces the faces)."""


def check_box(photo: Photo, box: Any) -> tuple[int, int, int, int]:
    """Return ``box`` as four whole pixels inside the upright photo, or raise BadBox saying why."""
    if (
        not isinstance(box, list | tuple)
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    ):
        raise BadBox(N_("give the box as four whole numbers: left, top, right, bottom"))
    left, top, right, bottom = (int(v) for v in box)
    if right <= left:
        raise BadBox(N_("the box's right edge must be to the right of its left edge"))
    if bottom <= top:
        raise BadBox(N_("the box's bottom edge must be below its top edge"))
    if left < 0 or top < 0 or right > photo.width or bottom > photo.height:
        raise BadBox(
            N_("the box must lie inside the photo (%(width)s × %(height)s pixels)"),
            width=photo.width,
            height=photo.height,
        )
    if right - left < MIN_BOX_SIDE or bottom - top < MIN_BOX_SIDE:
        raise BadBox(
            N_("the box is too small: draw at least %(side)s × %(side)s pixels"),
            side=MIN_BOX_SIDE,
        )
    return left, top, right, bottom


def _refuse_a_marked_face(photo: Photo, box: tuple[int, int, int, int]) -> None:
    """A box over (or around) a face already marked is that face: refused, naming it."""
    marked = next((f for f in photo.faces if same_face(box, f.box)), None)
    if marked is not None:
        raise BadBox(N_("this face is marked already (face %(number)s)"), number=marked.number)


def add_drawn_face(
    session: so.Session,
    rt: Runtime,
    photo: Photo,
    box: Any,
    *,
    user: User | None,
) -> Face:
    """Mark a face the scanner missed, from a box drawn by hand; it then needs a decision.

    The face gets the next number and no template yet: the worker computes one (and a
    suggestion) when the face can be aligned (``encode_drawn_face``, queued here to run after
    the commit). The photo's confirmation is undone, since the photo's faces changed. Runs in
    the caller's unit of work.
    """
    left, top, right, bottom = check_box(photo, box)
    if photo.scan_state != ScanState.DONE:
        raise ScanNotFinished(N_("this photo's scan is not finished yet"))
    _refuse_a_marked_face(photo, (left, top, right, bottom))
    for attempt in range(3):
        session.refresh(photo, ["faces"])
        number = max((f.number for f in photo.faces), default=0) + 1
        face = Face(
            photo_id=photo.id,
            number=number,
            left=left,
            top=top,
            right=right,
            bottom=bottom,
            source=FaceSource.MANUAL,
            state=FaceState.PENDING,
        )
        try:
            # Someone else may add a face to this photo at the same moment and take the number.
            with session.begin_nested():
                session.add(face)
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
            continue
        break
    session.refresh(photo, ["faces"])
    # A new face has no decision yet, so the photo's review is open again.
    photo.reviewed_at = None
    session.flush()
    actor = user.email if user else None
    events.record(
        session,
        "face.drawn",
        f"face:{face.id}",
        {"photo": photo.id, "face": number, "box": [left, top, right, bottom]},
        actor=actor,
    )
    confirmation.undo_confirmation(
        session, rt, photo, confirmation.UNDONE_FACE_DRAWN, actor=actor, details={"face": number}
    )
    # Once committed, the worker computes its template and suggests a person if it can.
    later(session, "encode_drawn_face", face.id)
    return face


def encode_drawn_face(session: so.Session, rt: Runtime, face_id: int) -> bool:
    """Compute the template of a drawn face and suggest its person; return whether it aligned.

    Runs in the worker (the only process that loads the face engine), in two units of work on
    ``session`` with the engine's work between them (no transaction held meanwhile). Nothing is
    written when the face was decided meanwhile: a template exists only to help that decision.
    """
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.manual import encode_drawn_face as encode

    with unit_of_work(rt, session):
        face = session.get(Face, face_id)
        if face is None or face.source != FaceSource.MANUAL or face.template is not None:
            return False
        photo = face.photo
        box, source, name = face.box, rt.storage.path(photo.original_key), photo.original_name
    try:
        encoding = encode(source, box, max_pixels=rt.settings["MAX_PIXELS"], name=name)
    except (ImageRejected, OSError) as exc:
        log.warning("drawn face %s: could not read the photo: %s", face_id, exc)
        return False
    with unit_of_work(rt, session):
        return _record_encoding(session, rt, face_id, encoding)


def _record_encoding(
    session: so.Session, rt: Runtime, face_id: int, encoding: np.ndarray | None
) -> bool:
    """Keep a drawn face's template and suggestion (or say it did not align)."""
    face = session.get(Face, face_id)
    if face is None or face.state != FaceState.PENDING or face.photo.reviewed_at:
        return False
    if encoding is None:
        events.record(
            session,
            "face.not_aligned",
            f"face:{face.id}",
            {"photo": face.photo_id, "face": face.number},
            actor="scanner",
        )
        return False
    face.template = rt.vault.encrypt(template_bytes(encoding))
    match = enrolled_matcher(session, rt).match_many(np.stack([encoding]))[0]
    if match.person_id is not None:
        face.suggested_person_id = int(match.person_id)
        face.distance = None if match.distance is None else float(match.distance)
        face.gap = None if match.gap is None else float(match.gap)
        face.state = FaceState.SUGGESTED
    events.record(
        session,
        "face.encoded",
        f"face:{face.id}",
        {"photo": face.photo_id, "face": face.number, "suggested": face.suggested_person_id},
        actor="scanner",
    )
    return True


def merge_rescan(session: so.Session, rt: Runtime, photo: Photo, result: Any) -> list[Face]:
    """Add the faces a new scan of a reviewed photo found that no marked face accounts for.

    Faces already marked (found before or drawn by hand) keep their decisions; a found face
    whose centre lies inside none of their boxes is added as a new face to review (the same
    rule as the audit's re-scan), and the photo's confirmation is undone. Runs in the caller's
    unit of work.
    """
    session.refresh(photo, ["faces"])
    known = [f.box for f in photo.faces]
    fresh = [d for d in result.faces if not centre_inside(d.box, known)]
    if not fresh:
        return []
    matcher = enrolled_matcher(session, rt)
    matches = matcher.match_many(np.stack([d.encoding for d in fresh]))
    number = max((f.number for f in photo.faces), default=0)
    added: list[Face] = []
    for found, match in zip(fresh, matches, strict=True):
        number += 1
        left, top, right, bottom = found.box
        face = Face(
            photo=photo,
            number=number,
            left=left,
            top=top,
            right=right,
            bottom=bottom,
            source=FaceSource.DETECTED,
            sharpness=float(found.sharpness),
            blurry=bool(found.blurry),
            template=rt.vault.encrypt(template_bytes(found.encoding)),
        )
        if match.person_id is not None:
            face.suggested_person_id = int(match.person_id)
            face.distance = None if match.distance is None else float(match.distance)
            face.gap = None if match.gap is None else float(match.gap)
            face.state = FaceState.SUGGESTED
        session.add(face)
        added.append(face)
    photo.reviewed_at = None
    photo.scanned_at = utcnow()
    session.flush()
    events.record(
        session,
        "photo.rescanned",
        f"photo:{photo.id}",
        {"new_faces": [f.number for f in added]},
        actor="scanner",
    )
    confirmation.undo_confirmation(
        session,
        rt,
        photo,
        confirmation.UNDONE_RESCAN_FOUND_FACE,
        actor="scanner",
        details={"faces": [f.number for f in added]},
    )
    return added


def rescan_photo(session: so.Session, rt: Runtime, photo_id: int) -> list[Face]:
    """Scan a scanned photo again with the current engine, keeping every decision made.

    For photos scanned before the engine improved: a face it finds now that nobody marked is
    added and the photo needs confirming again. Two units of work on ``session``, with the scan
    between them (no transaction held meanwhile).
    """
    from consentcam.faces.pipeline import scan_image
    from consentcam.services.scanning import scan_settings

    with unit_of_work(rt, session):
        photo = session.get(Photo, photo_id)
        if photo is None or photo.scan_state != ScanState.DONE:
            return []
        source, name = rt.storage.path(photo.original_key), photo.original_name
    result = scan_image(source, scan_settings(rt), name=name)
    with unit_of_work(rt, session):
        photo = session.get(Photo, photo_id)
        if photo is None:
            return []
        return merge_rescan(session, rt, photo, result)


def register(jobs: TaskQueue) -> None:
    @jobs.task("encode_drawn_face", retries=1, retry_delay=10)
    def encode_drawn_face_task(rt: Runtime, face_id: int) -> None:
        with rt.sessions() as session:
            encode_drawn_face(session, rt, face_id)

    @jobs.task("rescan_photo", retries=1, retry_delay=30)
    def rescan_photo_task(rt: Runtime, photo_id: int) -> None:
        with rt.sessions() as session:
            rescan_photo(session, rt, photo_id)
