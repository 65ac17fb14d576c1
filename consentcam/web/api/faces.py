"""API: the review actions on one face (confirm, assign, not identifiable, blur), and a face drawn
by hand where the scanner missed one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, jsonify

from consentcam.models import Face
from consentcam.services import listings, marking, review
from consentcam.uow import later
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    MAX_ID,
    EmptyBodyAllowed,
    Open,
    boolean,
    checked_by_service,
    integer,
    text,
)
from consentcam.web.api.photos import BOX, FaceSchema, photo_or_404
from consentcam.web.photos import shared


class FaceAction(EmptyBodyAllowed, Open):
    version = text(max_length=64, nullable=True)


class Assignment(FaceAction):
    person_id = integer(required=True, minimum=1, maximum=MAX_ID)


class NotIdentifiable(FaceAction):
    reason = text(required=True, min_length=1, max_length=review.MAX_REASON, pattern=r"\S")


class Blurring(FaceAction):
    blur = boolean(required=True)


class DrawnFace(EmptyBodyAllowed, Open):
    # The marking service checks the box and words its refusals (four numbers, inside the photo).
    box = checked_by_service(
        required=True,
        type="array",
        items={"type": "integer"},
        minItems=4,
        maxItems=4,
        description=f"{BOX}; inside the photo, at least {marking.MIN_BOX_SIDE} px each way",
    )


def _face_or_404(face_id: int) -> Face:
    return found(listings.face(db(), face_id), f"there is no face {face_id}")


def _act(face_id: int, action: Callable[[Any, Face], Any]) -> Any:
    """Run one review action on the face in its own unit of work; answer with the face."""
    face = _face_or_404(face_id)
    try:
        with transaction() as session:
            action(session, face)
    except review.StaleFace as exc:
        abort(409, description=str(exc))
    except review.ReviewError as exc:
        if "scan is not finished" in str(exc) or "no suggestion" in str(exc):
            abort(409, description=str(exc))
        abort(422, description=str(exc))
    return jsonify(shared.face_json(_face_or_404(face_id)))


@bp.endpoint(
    "POST", "/faces/<int:face_id>/confirm", tag="faces", body=FaceAction, response=FaceSchema
)
def confirm_face(body: dict[str, Any], face_id: int) -> Any:
    """Confirm the recognition's suggestion for this face"""
    version = body.get("version")
    return _act(
        face_id,
        lambda s, f: review.confirm_face(s, runtime(), f, version=version, user=api_user()),
    )


@bp.endpoint(
    "POST", "/faces/<int:face_id>/assign", tag="faces", body=Assignment, response=FaceSchema
)
def assign_face(body: dict[str, Any], face_id: int) -> Any:
    """Say who this face is"""
    _face_or_404(face_id)
    person = listings.person(db(), body["person_id"])
    if person is None:
        abort(422, description=f"there is no person {body['person_id']}")
    version = body.get("version")
    return _act(
        face_id,
        lambda s, f: review.assign_face(s, runtime(), f, person, version=version, user=api_user()),
    )


@bp.endpoint(
    "POST",
    "/faces/<int:face_id>/not-identifiable",
    tag="faces",
    body=NotIdentifiable,
    response=FaceSchema,
)
def face_not_identifiable(body: dict[str, Any], face_id: int) -> Any:
    """Mark this face as not identifiable, with the reason"""
    reason, version = body["reason"], body.get("version")
    return _act(
        face_id,
        lambda s, f: review.mark_not_identifiable(
            s, runtime(), f, reason, version=version, user=api_user()
        ),
    )


@bp.endpoint("POST", "/faces/<int:face_id>/blur", tag="faces", body=Blurring, response=FaceSchema)
def face_blur(body: dict[str, Any], face_id: int) -> Any:
    """Blur this face in every published copy (or stop blurring it)"""
    wanted, version = body["blur"], body.get("version")
    return _act(
        face_id,
        lambda s, f: review.set_blur(s, runtime(), f, wanted, version=version, user=api_user()),
    )


@bp.endpoint(
    "POST",
    "/photos/<int:photo_id>/faces",
    tag="faces",
    body=DrawnFace,
    response=FaceSchema,
    status=201,
)
def draw_face(body: dict[str, Any], photo_id: int) -> Any:
    """Mark a face the scanner missed, by its box; it then gets a decision like any face"""
    photo = photo_or_404(photo_id)
    try:
        with transaction() as session:
            face = marking.add_drawn_face(session, runtime(), photo, body["box"], user=api_user())
            session.flush()
            # Queued after the commit, so the worker finds the face.
            later(session, "encode_drawn_face", face.id)
    except marking.ScanNotFinished as exc:
        abort(409, description=str(exc))
    except marking.MarkingError as exc:
        abort(422, description=str(exc))
    return jsonify(shared.face_json(_face_or_404(face.id))), 201
