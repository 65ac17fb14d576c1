"""API: photos: upload, list, one photo with its faces, the gate's verdict, and the confirmation
that everyone in a photo is marked. The review actions on faces are in ``faces``."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify
from flask_smorest.fields import Upload
from marshmallow import ValidationError, fields

from consentcam.domain.types import BlockReason, FaceSource, FaceState
from consentcam.domain.vocabulary import iso
from consentcam.models import Photo
from consentcam.services import confirmation, gate, listings, review
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    EmptyBodyAllowed,
    Open,
    Shape,
    array,
    boolean,
    integer,
    mapping,
    moment,
    nested,
    number,
    query_choice,
    query_integer,
    text,
)
from consentcam.web.photos import shared

MAX_PER_PAGE = 200
CONFIDENCE = ["very_likely", "likely", "possible", "none"]
BOX = "[left, top, right, bottom] in the upright photo at full resolution"
NO_PHOTOS = "send the photos as multipart/form-data in the field 'photos'"


class FacePerson(Shape):
    id = integer(required=True, minimum=1)
    name = text(required=True)


class FaceSuggestion(Shape):
    person_id = integer(required=True, minimum=1)
    name = text(required=True, nullable=True)
    distance = number(required=True, nullable=True)
    confidence = text(required=True, choices=CONFIDENCE)


class FaceSchema(Shape):
    id = integer(required=True, minimum=1)
    photo_id = integer(required=True, minimum=1)
    number = integer(required=True, minimum=1)
    box = array(integer(), required=True, min_items=4, max_items=4, description=BOX)
    source = text(
        required=True,
        choices=[s.value for s in FaceSource],
        description="detected by the scanner, or manual: drawn by hand",
    )
    state = text(required=True, choices=[s.value for s in FaceState])
    person = nested(FacePerson, required=True, nullable=True)
    suggestion = nested(FaceSuggestion, required=True, nullable=True)
    not_identifiable_reason = text(required=True, nullable=True)
    blur = boolean(required=True)
    blurry = boolean(required=True)
    decided = boolean(required=True, description="confirmed, not identifiable, or blurred")
    version = text(
        required=True,
        description="send it back with a review action to refuse the action if someone "
        "else changed the face meanwhile (409)",
    )


class PhotoSchema(Shape):
    id = integer(required=True, minimum=1)
    name = text(required=True)
    width = integer(required=True, minimum=1)
    height = integer(required=True, minimum=1)
    format = text(required=True)
    size_bytes = integer(required=True, minimum=0)
    source = text(required=True, choices=["upload", "api", "cli"])
    supplier_id = integer(required=True, minimum=1, nullable=True)
    uploaded_at = moment(required=True)
    scan_state = text(required=True, choices=["pending", "scanning", "done", "failed"])
    scan_error = text(required=True, nullable=True)
    scanned_at = moment(required=True, nullable=True)
    reviewed_at = moment(required=True, nullable=True)
    face_count = integer(required=True, minimum=0, nullable=True)
    undecided_faces = integer(required=True, minimum=0)
    faces_confirmed_at = moment(
        required=True,
        nullable=True,
        description="when a person confirmed that everyone in the photo is marked; null "
        "until then, and again after its faces change (nothing is cleared while null)",
    )
    faces_confirmed_by = text(
        required=True,
        nullable=True,
        description="who confirmed that everyone in the photo is marked",
    )
    faces_stamp = text(
        required=True,
        description="a stamp of the photo's set of faces; send it with a confirmation",
    )
    review_url = text(required=True)
    thumbnail_url = text(required=True)


class PhotoWithFacesSchema(PhotoSchema):
    faces = array(nested(FaceSchema), required=True)


class UploadResultSchema(Shape):
    name = text(required=True)
    status = text(required=True, choices=["created", "duplicate", "rejected"])
    error = text(required=True, nullable=True)
    photo = nested(PhotoSchema, required=True, nullable=True)


class BlockerSchema(Shape):
    code = text(required=True, choices=[r.value for r in BlockReason])
    message = text(required=True)
    face_id = integer(required=True, nullable=True)
    face_number = integer(required=True, nullable=True)
    person_id = integer(required=True, nullable=True)
    params = mapping(text(), required=True)


class ChannelVerdictSchema(Shape):
    channel = text(required=True, choices=shared.CHANNELS)
    cleared = boolean(required=True)
    blockers = array(nested(BlockerSchema), required=True)


class UploadForm(Shape):
    photos = fields.List(
        Upload(),
        required=True,
        error_messages={"required": NO_PHOTOS, "invalid": NO_PHOTOS},
    )


class Uploaded(Shape):
    results = array(nested(UploadResultSchema), required=True)


class PhotoQuery(Shape):
    state = query_choice(review.PHOTO_STATES)
    channel = query_choice(
        shared.CHANNELS,
        default="instagram",
        description="the channel 'cleared' and 'blocked' refer to",
    )
    page = query_integer(1, 1_000_000, default=1)
    per_page = query_integer(1, MAX_PER_PAGE, default=50)


class PhotoPage(Shape):
    photos = array(nested(PhotoSchema), required=True)
    page = integer(required=True, minimum=1)
    per_page = integer(required=True, minimum=1)
    total = integer(required=True, minimum=0)
    pages = integer(required=True, minimum=1)


class PhotoFaces(Shape):
    faces = array(nested(FaceSchema), required=True)


class QueryChannels(fields.String):
    """Channels named in the query, comma-separated (none named: all four)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return shared.parse_channels(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class GateQuery(Shape):
    channels = QueryChannels(
        metadata={
            "description": "comma-separated channels (default: all four)",
            "pattern": "^[a-z]+(,[a-z]+)*$",
            "example": "instagram,facebook",
        }
    )


class GateAnswer(Shape):
    photo_id = integer(required=True, minimum=1)
    at = moment(required=True)
    verdicts = array(nested(ChannelVerdictSchema), required=True)


class Confirmation(EmptyBodyAllowed, Open):
    faces_stamp = text(
        max_length=64,
        description="the photo's faces_stamp as you saw it: refused (409) if the faces "
        "changed since",
    )


def photo_or_404(photo_id: int, with_faces: bool = False) -> Photo:
    return found(
        listings.photo(db(), photo_id, with_faces=with_faces), f"there is no photo {photo_id}"
    )


@bp.endpoint("POST", "/photos", tag="photos", body=UploadForm, files=True, response=Uploaded)
def upload_photos(form: dict[str, Any]) -> Any:
    """Upload one or more photos (each is stored once; its face scan is queued)"""
    files = [f for f in form["photos"] if f]
    if not files:
        abort(400, description=NO_PHOTOS)
    # Each file is its own unit of work, so one bad file never sinks the others.
    results = [shared.upload_one(db(), runtime(), f, api_user(), "api")[0] for f in files[:100]]
    if all(r["status"] == "rejected" for r in results):
        response = jsonify(
            {"error": "; ".join(str(r["error"]) for r in results), "details": results}
        )
        return response, 422
    return jsonify({"results": results})


@bp.endpoint("GET", "/photos", tag="photos", query=PhotoQuery, response=PhotoPage)
def list_photos(args: dict[str, Any]) -> Any:
    """List photos, newest first, optionally those in one review state"""
    result = review.photo_page(
        db(),
        state=args.get("state"),
        channel=args["channel"],
        page=args["page"],
        per_page=args["per_page"],
    )
    return jsonify(
        {
            "photos": [shared.photo_json(p) for p in result.photos],
            "page": result.page,
            "per_page": result.per_page,
            "total": result.total,
            "pages": result.pages,
        }
    )


@bp.endpoint("GET", "/photos/<int:photo_id>", tag="photos", response=PhotoWithFacesSchema)
def get_photo(photo_id: int) -> Any:
    """One photo with its faces"""
    return jsonify(shared.photo_json(photo_or_404(photo_id, True), faces=True))


@bp.endpoint("GET", "/photos/<int:photo_id>/faces", tag="photos", response=PhotoFaces)
def photo_faces(photo_id: int) -> Any:
    """The faces found in one photo"""
    photo = photo_or_404(photo_id, True)
    return jsonify({"faces": [shared.face_json(f) for f in photo.faces]})


@bp.endpoint(
    "GET", "/photos/<int:photo_id>/gate", tag="photos", query=GateQuery, response=GateAnswer
)
def photo_gate(args: dict[str, Any], photo_id: int) -> Any:
    """May this photo be published now? The verdict per channel with its reasons"""
    channels = args.get("channels") or shared.parse_channels(None)
    photo = photo_or_404(photo_id, True)
    decisions = gate.decide(db(), photo, channels)
    at = next(iter(decisions.values())).at
    return jsonify(
        {"photo_id": photo.id, "at": iso(at), "verdicts": shared.verdict_json(decisions)}
    )


@bp.endpoint(
    "POST",
    "/photos/<int:photo_id>/confirmation",
    tag="photos",
    body=Confirmation,
    response=PhotoSchema,
)
def confirm_photo(body: dict[str, Any], photo_id: int) -> Any:
    """Confirm that everyone in this photo is marked (nothing is cleared before this)"""
    photo = photo_or_404(photo_id)
    try:
        with transaction() as session:
            confirmation.confirm_photo(
                session, runtime(), photo, user=api_user(), stamp=body.get("faces_stamp")
            )
    except confirmation.NotAllowedToConfirm as exc:
        abort(403, description=str(exc))
    except (confirmation.ScanUnfinished, confirmation.FacesChanged) as exc:
        abort(409, description=str(exc))
    return jsonify(shared.photo_json(photo_or_404(photo_id, True)))
