"""Photos and faces in the JSON API: upload, list, faces, review actions and the gate's verdict."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import abort, current_app, jsonify, request

from consentcam.domain.types import BlockReason, FaceSource, FaceState
from consentcam.models import Face, Person, Photo
from consentcam.security import parse_int
from consentcam.services import confirmation, gate, marking, review
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, schema
from consentcam.web.photos import shared

MAX_ID = 2**31 - 1
MAX_PER_PAGE = 200

_nullable_string = {"type": "string", "nullable": True}
_id = {"type": "integer", "minimum": 1}

FACE = schema(
    "Face",
    {
        "type": "object",
        "required": [
            "id",
            "photo_id",
            "number",
            "box",
            "source",
            "state",
            "person",
            "suggestion",
            "not_identifiable_reason",
            "blur",
            "blurry",
            "decided",
            "version",
        ],
        "properties": {
            "id": _id,
            "photo_id": _id,
            "number": {"type": "integer", "minimum": 1},
            "box": {
                "type": "array",
                "description": "[left, top, right, bottom] in the upright photo at full resolution",
                "items": {"type": "integer"},
                "minItems": 4,
                "maxItems": 4,
            },
            "source": {
                "type": "string",
                "enum": [s.value for s in FaceSource],
                "description": "detected by the scanner, or manual: drawn by hand",
            },
            "state": {"type": "string", "enum": [s.value for s in FaceState]},
            "person": {
                "type": "object",
                "nullable": True,
                "required": ["id", "name"],
                "properties": {"id": _id, "name": {"type": "string"}},
            },
            "suggestion": {
                "type": "object",
                "nullable": True,
                "required": ["person_id", "name", "distance", "confidence"],
                "properties": {
                    "person_id": _id,
                    "name": _nullable_string,
                    "distance": {"type": "number", "nullable": True},
                    "confidence": {
                        "type": "string",
                        "enum": ["very_likely", "likely", "possible", "none"],
                    },
                },
            },
            "not_identifiable_reason": _nullable_string,
            "blur": {"type": "boolean"},
            "blurry": {"type": "boolean"},
            "decided": {
                "type": "boolean",
                "description": "confirmed, not identifiable, or blurred",
            },
            "version": {
                "type": "string",
                "description": "send it back with a review action to refuse the action if someone "
                "else changed the face meanwhile (409)",
            },
        },
    },
)
_photo_props: dict[str, Any] = {
    "id": _id,
    "name": {"type": "string"},
    "width": {"type": "integer", "minimum": 1},
    "height": {"type": "integer", "minimum": 1},
    "format": {"type": "string"},
    "size_bytes": {"type": "integer", "minimum": 0},
    "source": {"type": "string", "enum": ["upload", "api", "cli"]},
    "supplier_id": {"type": "integer", "minimum": 1, "nullable": True},
    "uploaded_at": {"type": "string", "format": "date-time"},
    "scan_state": {"type": "string", "enum": ["pending", "scanning", "done", "failed"]},
    "scan_error": _nullable_string,
    "scanned_at": {"type": "string", "format": "date-time", "nullable": True},
    "reviewed_at": {"type": "string", "format": "date-time", "nullable": True},
    "face_count": {"type": "integer", "minimum": 0, "nullable": True},
    "undecided_faces": {"type": "integer", "minimum": 0},
    "faces_confirmed_at": {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": "when a person confirmed that everyone in the photo is marked; null "
        "until then, and again after its faces change (nothing is cleared while null)",
    },
    "faces_confirmed_by": {
        "type": "string",
        "nullable": True,
        "description": "who confirmed that everyone in the photo is marked",
    },
    "faces_stamp": {
        "type": "string",
        "description": "a stamp of the photo's set of faces; send it with a confirmation",
    },
    "review_url": {"type": "string"},
    "thumbnail_url": {"type": "string"},
}
PHOTO = schema(
    "Photo", {"type": "object", "required": list(_photo_props), "properties": _photo_props}
)
PHOTO_WITH_FACES = schema(
    "PhotoWithFaces",
    {
        "type": "object",
        "required": [*_photo_props, "faces"],
        "properties": {**_photo_props, "faces": {"type": "array", "items": FACE}},
    },
)
UPLOAD_RESULT = schema(
    "UploadResult",
    {
        "type": "object",
        "required": ["name", "status", "error", "photo"],
        "properties": {
            "name": {"type": "string"},
            "status": {"type": "string", "enum": ["created", "duplicate", "rejected"]},
            "error": _nullable_string,
            "photo": {"nullable": True, "allOf": [PHOTO]},
        },
    },
)
BLOCKER = schema(
    "Blocker",
    {
        "type": "object",
        "required": ["code", "message", "face_id", "face_number", "person_id", "params"],
        "properties": {
            "code": {"type": "string", "enum": [r.value for r in BlockReason]},
            "message": {"type": "string"},
            "face_id": {"type": "integer", "nullable": True},
            "face_number": {"type": "integer", "nullable": True},
            "person_id": {"type": "integer", "nullable": True},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
)
VERDICT = schema(
    "ChannelVerdict",
    {
        "type": "object",
        "required": ["channel", "cleared", "blockers"],
        "properties": {
            "channel": {"type": "string", "enum": list(shared.CHANNELS)},
            "cleared": {"type": "boolean"},
            "blockers": {"type": "array", "items": BLOCKER},
        },
    },
)
_version_prop = {"type": "string", "maxLength": 64, "nullable": True}


def _photo_or_404(photo_id: int, with_faces: bool = False) -> Photo:
    if photo_id > MAX_ID:
        abort(404, description=f"there is no photo {photo_id}")
    query = sa.select(Photo).where(Photo.id == photo_id)
    if with_faces:
        query = query.options(
            so.selectinload(Photo.faces).selectinload(Face.person),
            so.selectinload(Photo.faces).selectinload(Face.suggested_person),
        )
    photo = db().scalar(query)
    if photo is None:
        abort(404, description=f"there is no photo {photo_id}")
    return photo


def _face_or_404(face_id: int) -> Face:
    face = db().get(Face, face_id) if face_id <= MAX_ID else None
    if face is None:
        abort(404, description=f"there is no face {face_id}")
    return face


def _optional_body() -> dict[str, Any]:
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="send a JSON object with Content-Type: application/json")
    return data


def _version(data: dict[str, Any]) -> str | None:
    value = data.get("version")
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        abort(422, description="version must be the string given with the face")
    return value  # type: ignore[no-any-return]


def _act(face: Face, action: Any) -> Any:
    session = db()
    face_id = face.id
    try:
        action(session, face)
        session.commit()
    except review.StaleFace as exc:
        session.rollback()
        abort(409, description=str(exc))
    except review.ReviewError as exc:
        session.rollback()
        if "scan is not finished" in str(exc) or "no suggestion" in str(exc):
            abort(409, description=str(exc))
        abort(422, description=str(exc))
    fresh = session.scalar(
        sa.select(Face)
        .where(Face.id == face_id)
        .options(so.selectinload(Face.person), so.selectinload(Face.suggested_person))
    )
    return jsonify(shared.face_json(fresh))  # type: ignore[arg-type]


@bp.post("/photos")
@documented(
    "/photos",
    "POST",
    "Upload one or more photos (each is stored once; its face scan is queued)",
    tag="photos",
    body={
        "type": "object",
        "required": ["photos"],
        "properties": {
            "photos": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    },
    body_type="multipart/form-data",
    response={
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": UPLOAD_RESULT}},
    },
)
def upload_photos() -> Any:
    files = [f for f in request.files.getlist("photos") if f]
    if not files:
        abort(400, description="send the photos as multipart/form-data in the field 'photos'")
    results = [shared.upload_one(db(), runtime(), f, api_user(), "api")[0] for f in files[:100]]
    if all(r["status"] == "rejected" for r in results):
        response = jsonify(
            {"error": "; ".join(str(r["error"]) for r in results), "details": results}
        )
        return response, 422
    return jsonify({"results": results})


@bp.get("/photos")
@documented(
    "/photos",
    "GET",
    "List photos, newest first, optionally those in one review state",
    tag="photos",
    parameters=[
        {
            "name": "state",
            "in": "query",
            "schema": {"type": "string", "enum": list(review.PHOTO_STATES)},
        },
        {
            "name": "channel",
            "in": "query",
            "description": "the channel 'cleared' and 'blocked' refer to",
            "schema": {"type": "string", "enum": list(shared.CHANNELS), "default": "instagram"},
        },
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
        },
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 50},
        },
    ],
    response={
        "type": "object",
        "required": ["photos", "page", "per_page", "total", "pages"],
        "properties": {
            "photos": {"type": "array", "items": PHOTO},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
        },
    },
)
def list_photos() -> Any:
    state = request.args.get("state") or None
    if state is not None and state not in review.PHOTO_STATES:
        abort(400, description=f"state must be one of {', '.join(review.PHOTO_STATES)}")
    channel = request.args.get("channel", "instagram")
    if channel not in shared.CHANNELS:
        abort(400, description=f"channel must be one of {', '.join(shared.CHANNELS)}")
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    result = review.photo_page(db(), state=state, channel=channel, page=page, per_page=per_page)
    return jsonify(
        {
            "photos": [shared.photo_json(p) for p in result.photos],
            "page": result.page,
            "per_page": result.per_page,
            "total": result.total,
            "pages": result.pages,
        }
    )


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = parse_int(raw, low, high)
    if value is None:
        abort(400, description=f"{name} must be a whole number from {low} to {high}")
    return value


@bp.get("/photos/<int:photo_id>")
@documented(
    "/photos/{photo_id}", "GET", "One photo with its faces", tag="photos", response=PHOTO_WITH_FACES
)
def get_photo(photo_id: int) -> Any:
    return jsonify(shared.photo_json(_photo_or_404(photo_id, True), faces=True))


@bp.get("/photos/<int:photo_id>/faces")
@documented(
    "/photos/{photo_id}/faces",
    "GET",
    "The faces found in one photo",
    tag="photos",
    response={
        "type": "object",
        "required": ["faces"],
        "properties": {"faces": {"type": "array", "items": FACE}},
    },
)
def photo_faces(photo_id: int) -> Any:
    photo = _photo_or_404(photo_id, True)
    return jsonify({"faces": [shared.face_json(f) for f in photo.faces]})


@bp.get("/photos/<int:photo_id>/gate")
@documented(
    "/photos/{photo_id}/gate",
    "GET",
    "May this photo be published now? The verdict per channel with its reasons",
    tag="photos",
    parameters=[
        {
            "name": "channels",
            "in": "query",
            "description": "comma-separated channels (default: all four)",
            "schema": {
                "type": "string",
                "pattern": "^[a-z]+(,[a-z]+)*$",
                "example": "instagram,facebook",
            },
        }
    ],
    response={
        "type": "object",
        "required": ["photo_id", "at", "verdicts"],
        "properties": {
            "photo_id": _id,
            "at": {"type": "string", "format": "date-time"},
            "verdicts": {"type": "array", "items": VERDICT},
        },
    },
)
def photo_gate(photo_id: int) -> Any:
    try:
        channels = shared.parse_channels(request.args.get("channels"))
    except ValueError as exc:
        abort(400, description=str(exc))
    photo = _photo_or_404(photo_id, True)
    decisions = gate.decide(db(), photo, channels)
    at = next(iter(decisions.values())).at
    return jsonify(
        {"photo_id": photo.id, "at": at.isoformat(), "verdicts": shared.verdict_json(decisions)}
    )


@bp.post("/faces/<int:face_id>/confirm")
@documented(
    "/faces/{face_id}/confirm",
    "POST",
    "Confirm the recognition's suggestion for this face",
    tag="faces",
    body={"type": "object", "properties": {"version": _version_prop}},
    response=FACE,
)
def confirm_face(face_id: int) -> Any:
    face = _face_or_404(face_id)
    version = _version(_optional_body())
    return _act(
        face, lambda s, f: review.confirm_face(s, runtime(), f, version=version, user=api_user())
    )


@bp.post("/faces/<int:face_id>/assign")
@documented(
    "/faces/{face_id}/assign",
    "POST",
    "Say who this face is",
    tag="faces",
    body={
        "type": "object",
        "required": ["person_id"],
        "properties": {
            "person_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "version": _version_prop,
        },
    },
    response=FACE,
)
def assign_face(face_id: int) -> Any:
    face = _face_or_404(face_id)
    data = _optional_body()
    version = _version(data)
    person_id = data.get("person_id")
    if (
        not isinstance(person_id, int)
        or isinstance(person_id, bool)
        or not 1 <= person_id <= MAX_ID
    ):
        abort(422, description="person_id must be a whole number from 1")
    person = db().get(Person, person_id)
    if person is None or person.erased_at is not None:
        abort(422, description=f"there is no person {person_id}")
    return _act(
        face,
        lambda s, f: review.assign_face(s, runtime(), f, person, version=version, user=api_user()),
    )


@bp.post("/faces/<int:face_id>/not-identifiable")
@documented(
    "/faces/{face_id}/not-identifiable",
    "POST",
    "Mark this face as not identifiable, with the reason",
    tag="faces",
    body={
        "type": "object",
        "required": ["reason"],
        "properties": {
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": review.MAX_REASON,
                "pattern": "\\S",
            },
            "version": _version_prop,
        },
    },
    response=FACE,
)
def face_not_identifiable(face_id: int) -> Any:
    face = _face_or_404(face_id)
    data = _optional_body()
    version = _version(data)
    reason = data.get("reason")
    if not isinstance(reason, str):
        abort(422, description="reason must be a string saying why nobody can be recognised")
    return _act(
        face,
        lambda s, f: review.mark_not_identifiable(
            s, runtime(), f, reason, version=version, user=api_user()
        ),
    )


@bp.post("/faces/<int:face_id>/blur")
@documented(
    "/faces/{face_id}/blur",
    "POST",
    "Blur this face in every published copy (or stop blurring it)",
    tag="faces",
    body={
        "type": "object",
        "required": ["blur"],
        "properties": {"blur": {"type": "boolean"}, "version": _version_prop},
    },
    response=FACE,
)
def face_blur(face_id: int) -> Any:
    face = _face_or_404(face_id)
    data = _optional_body()
    version = _version(data)
    wanted = data.get("blur")
    if not isinstance(wanted, bool):
        abort(422, description="blur must be true or false")
    return _act(
        face,
        lambda s, f: review.set_blur(s, runtime(), f, wanted, version=version, user=api_user()),
    )


@bp.post("/photos/<int:photo_id>/faces")
@documented(
    "/photos/{photo_id}/faces",
    "POST",
    "Mark a face the scanner missed, by its box; it then gets a decision like any face",
    tag="faces",
    status=201,
    body={
        "type": "object",
        "required": ["box"],
        "properties": {
            "box": {
                "type": "array",
                "description": "[left, top, right, bottom] in the upright photo at full "
                f"resolution; inside the photo, at least {marking.MIN_BOX_SIDE} px each way",
                "items": {"type": "integer"},
                "minItems": 4,
                "maxItems": 4,
            }
        },
    },
    response=FACE,
)
def draw_face(photo_id: int) -> Any:
    photo = _photo_or_404(photo_id)
    data = _optional_body()
    if "box" not in data:
        abort(422, description='send the face\'s box as {"box": [left, top, right, bottom]}')
    session = db()
    try:
        face = marking.add_drawn_face(session, runtime(), photo, data["box"], user=api_user())
        session.commit()
    except marking.ScanNotFinished as exc:
        session.rollback()
        abort(409, description=str(exc))
    except marking.MarkingError as exc:
        session.rollback()
        abort(422, description=str(exc))
    face_id = face.id
    # After the commit, so the worker finds the face.
    current_app.extensions["jobs"].enqueue("encode_drawn_face", face_id)
    fresh = session.scalar(
        sa.select(Face)
        .where(Face.id == face_id)
        .options(so.selectinload(Face.person), so.selectinload(Face.suggested_person))
    )
    return jsonify(shared.face_json(fresh)), 201  # type: ignore[arg-type]


@bp.post("/photos/<int:photo_id>/confirmation")
@documented(
    "/photos/{photo_id}/confirmation",
    "POST",
    "Confirm that everyone in this photo is marked (nothing is cleared before this)",
    tag="photos",
    body={
        "type": "object",
        "properties": {
            "faces_stamp": {
                "type": "string",
                "maxLength": 64,
                "description": "the photo's faces_stamp as you saw it: refused (409) if the "
                "faces changed since",
            }
        },
    },
    response=PHOTO,
    owner_only=True,
)
def confirm_photo(photo_id: int) -> Any:
    photo = _photo_or_404(photo_id)
    data = _optional_body()
    stamp = data.get("faces_stamp")
    if stamp is not None and (not isinstance(stamp, str) or len(stamp) > 64):
        abort(422, description="faces_stamp must be the string given with the photo")
    session = db()
    try:
        confirmation.confirm_photo(session, runtime(), photo, user=api_user(), stamp=stamp)
        session.commit()
    except confirmation.NotAllowedToConfirm as exc:
        session.rollback()
        abort(403, description=str(exc))
    except (confirmation.ScanUnfinished, confirmation.FacesChanged) as exc:
        session.rollback()
        abort(409, description=str(exc))
    return jsonify(shared.photo_json(_photo_or_404(photo_id, True)))
