"""What the photo pages and the photo API share: one upload, a face or verdict as JSON, Swedish blockers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app, url_for
from werkzeug.datastructures import FileStorage

from consentcam.domain import vocabulary
from consentcam.domain.gate import Blocker, GateDecision
from consentcam.domain.types import Channel, ScanState
from consentcam.faces.decode import ImageRejected
from consentcam.models import Face, Photo, User
from consentcam.runtime import Runtime
from consentcam.services import confirmation, review
from consentcam.services import photos as photos_service
from consentcam.uow import later, unit_of_work
from consentcam.web import words
from consentcam.web.translate import gettext as _
from consentcam.wording import N_

CHANNELS = tuple(c.value for c in Channel)


def upload_one(
    session: Any,
    rt: Runtime,
    file: FileStorage,
    user: User,
    source: str,
    *,
    worded: bool = False,
) -> tuple[dict[str, Any], int]:
    """Take one uploaded file in: store it, commit, queue its scan; return its result and status.

    Each file is its own unit of work on ``session`` (the request's), so one bad file never
    sinks the others. A refusal is in the reader's language when `worded` (the upload page),
    else in English (the API).
    """
    name = file.filename or "photo"
    data = file.read()
    try:
        with unit_of_work(rt, session):
            if not data:
                raise ImageRejected(N_("%(name)s: the file is empty"), name=name)
            ingested = photos_service.ingest(session, rt, data, name, source=source, user=user)
            photo = ingested.photo
            scan = ingested.created or photo.scan_state == ScanState.PENDING
            if scan:
                later(session, "scan_photo", photo.id)  # queued once the photo is committed
    except ImageRejected as exc:
        return {
            "name": name,
            "status": "rejected",
            "error": words.error_text(exc) if worded else str(exc),
            "photo": None,
        }, 422
    if scan:
        session.expire(photo)  # a scan that ran at once changed it in another session
    status = "created" if ingested.created else "duplicate"
    return {"name": name, "status": status, "error": None, "photo": photo_json(photo)}, (
        201 if ingested.created else 200
    )


def photo_json(photo: Photo, *, faces: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": photo.id,
        "name": photo.original_name,
        "width": photo.width,
        "height": photo.height,
        "format": photo.format,
        "size_bytes": photo.size_bytes,
        "source": photo.source,
        "supplier_id": photo.supplier_id,
        "uploaded_at": photo.uploaded_at.isoformat(),
        "scan_state": photo.scan_state,
        "scan_error": photo.scan_error,
        "scanned_at": photo.scanned_at.isoformat() if photo.scanned_at else None,
        "reviewed_at": photo.reviewed_at.isoformat() if photo.reviewed_at else None,
        "face_count": len(photo.faces) if photo.scan_state == ScanState.DONE else None,
        "undecided_faces": sum(not review.face_decided(f) for f in photo.faces),
        "faces_confirmed_at": (
            photo.faces_confirmed_at.isoformat() if photo.faces_confirmed_at else None
        ),
        "faces_confirmed_by": photo.faces_confirmed_by,
        "faces_stamp": confirmation.faces_stamp(photo),
        "review_url": url_for("photos.detail", photo_id=photo.id),
        "thumbnail_url": url_for("photos.thumbnail", photo_id=photo.id),
    }
    if faces:
        out["faces"] = [face_json(f) for f in photo.faces]
    return out


def face_json(face: Face) -> dict[str, Any]:
    threshold = float(current_app.config["MATCH_THRESHOLD"])
    suggestion = None
    if face.suggested_person_id is not None:
        suggestion = {
            "person_id": face.suggested_person_id,
            "name": face.suggested_person.name if face.suggested_person else None,
            "distance": face.distance,
            "confidence": review.confidence(face.distance, threshold),
        }
    return {
        "id": face.id,
        "photo_id": face.photo_id,
        "number": face.number,
        "box": [face.left, face.top, face.right, face.bottom],
        "source": face.source,
        "state": face.state,
        "person": {"id": face.person.id, "name": face.person.name} if face.person else None,
        "suggestion": suggestion,
        "not_identifiable_reason": face.not_identifiable_reason,
        "blur": face.blur,
        "blurry": face.blurry,
        "decided": review.face_decided(face),
        "version": review.face_version(face),
    }


def verdict_json(decisions: Mapping[Channel, GateDecision]) -> list[dict[str, Any]]:
    return [
        {
            "channel": channel.value,
            "cleared": decision.cleared,
            "blockers": [
                {
                    "code": b.code.value,
                    "message": b.message,
                    "face_id": b.face_id,
                    "face_number": b.face_number,
                    "person_id": b.person_id,
                    "params": dict(b.params),
                }
                for b in decision.blockers
            ],
        }
        for channel, decision in decisions.items()
    ]


def confidence_text(level: str) -> str:
    return {
        "very_likely": _("very likely"),
        "likely": _("likely"),
        "possible": _("possible, check carefully"),
        "none": _("no suggestion"),
    }.get(level, level)


def parse_channels(raw: str | None) -> list[str]:
    """Channels from a comma-separated query value; raises ValueError naming an unknown one."""
    if not raw:
        return list(CHANNELS)
    chosen = vocabulary.parse_channels(raw)
    if not chosen:
        raise ValueError(f"name at least one channel ({', '.join(CHANNELS)})")
    return [c.value for c in chosen]


def order(seq: Sequence[str]) -> list[str]:
    return [c for c in CHANNELS if c in seq]


def blocker_text(blocker: Blocker) -> str:
    """Word a gate blocker in the reader's language, from its code and params."""
    return words.blocker_text(
        blocker.code.value, blocker.params, face=blocker.face_number, fallback=blocker.message
    )
