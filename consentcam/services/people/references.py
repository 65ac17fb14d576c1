"""Reference photos for automatic recognition: kept only under biometric consent, enrolled in the
background (so face encoding never runs in a web request)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import UploadState
from consentcam.models import Person, ReferenceFace, ReferenceUpload, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.people.consent import has_biometric_consent
from consentcam.services.people.errors import ConsentError
from consentcam.services.scanning import scan_settings, template_bytes
from consentcam.uow import later
from consentcam.wording import N_

REFERENCE_MAX_BYTES = 30 * 1024 * 1024
#: The background task that enrols a stored reference photo (consentcam.services.enrolment).
ENROL_TASK = "enrol_reference"


def _clean_reference(rt: Runtime, image: bytes, name: str) -> bytes:
    """A reference photo as it is kept: re-encoded like every stored image (no EXIF, GPS, comments
    or trailing bytes), so neither the files nor a person's export carry more than the pixels."""
    from consentcam.faces.decode import ImageRejected
    from consentcam.services.photos import reencode

    try:
        return reencode(image, max_pixels=int(rt.settings["MAX_PIXELS"]), name=name).data
    except ImageRejected as exc:
        raise ConsentError(exc.template, **exc.params) from exc


def _store_reference(rt: Runtime, image: bytes, name: str) -> tuple[str, str]:
    """Keep a reference photo, cleaned and encrypted; its storage key and the SHA-256 of the
    bytes kept (so a backup or an audit can check the file)."""
    kept = _clean_reference(rt, image, name)
    key, _ = rt.storage.put("references", rt.vault.encrypt(kept), "bin")
    return key, hashlib.sha256(kept).hexdigest()


def require_biometric_consent(session: so.Session, person: Person) -> None:
    """Refuse reference photos for someone without active biometric consent."""
    if not has_biometric_consent(session, person):
        raise ConsentError(
            N_(
                "%(name)s has not given biometric consent: reference photos for automatic "
                "recognition need it (faces can still be tagged by hand)"
            ),
            name=person.name,
        )


def enrol_reference(
    session: so.Session,
    rt: Runtime,
    person: Person,
    image: bytes,
    name: str,
    *,
    actor: User | None = None,
    stored_key: str | None = None,
) -> ReferenceFace:
    """Enrol the single face of a reference photo; refused without active biometric consent."""
    from consentcam.faces.pipeline import scan_image

    require_biometric_consent(session, person)
    result = scan_image(image, scan_settings(rt), name=name)
    if len(result.faces) != 1:
        raise ConsentError(
            N_("%(name)s: a reference photo must show exactly one face; this one shows %(count)s"),
            name=name,
            count=len(result.faces),
        )
    if stored_key is None:
        key, digest = _store_reference(rt, image, name)
    else:  # an upload stored earlier, already re-encoded
        key, digest = stored_key, hashlib.sha256(image).hexdigest()
    ref = ReferenceFace(
        person=person,
        source_key=key,
        source_sha256=digest,
        template=rt.vault.encrypt(template_bytes(result.faces[0].encoding)),
    )
    session.add(ref)
    session.flush()
    events.record(
        session,
        "reference.enrolled",
        f"person:{person.id}",
        {"reference": ref.id, "sha256": digest},
        actor=_actor(actor),
    )
    return ref


def queue_reference(
    session: so.Session,
    rt: Runtime,
    person: Person,
    image: bytes,
    name: str,
    *,
    actor: User | None = None,
) -> ReferenceUpload:
    """Store a reference photo encrypted and note it for enrolment; refused without biometric consent.

    The enrolment task is queued once the caller's unit of work has committed.
    """
    from consentcam.faces.decode import ImageRejected, probe

    require_biometric_consent(session, person)
    if len(image) > REFERENCE_MAX_BYTES:
        raise ConsentError(N_("the reference photo is too large"))
    try:
        probe(image, max_pixels=rt.settings["MAX_PIXELS"], name=name)
    except ImageRejected as exc:
        raise ConsentError(exc.template, **exc.params) from exc
    key, digest = _store_reference(rt, image, name)
    upload = ReferenceUpload(
        person_id=person.id,
        original_name=(name or "reference")[:300],
        source_key=key,
        source_sha256=digest,
        state="pending",
        created_by_id=actor.id if actor else None,
    )
    session.add(upload)
    session.flush()
    events.record(
        session,
        "reference.uploaded",
        f"person:{person.id}",
        {"upload": upload.id, "sha256": upload.source_sha256},
        actor=_actor(actor),
    )
    later(session, ENROL_TASK, upload.id)
    return upload


@dataclass(frozen=True)
class Enrolment:
    """What enrolling an upload did: the upload (None: no such row) and the file to delete once
    the change is committed (the photo of an upload that failed)."""

    upload: ReferenceUpload | None
    delete_key: str | None = None


def _failed(session: so.Session, upload: ReferenceUpload, message: str) -> Enrolment:
    # Without a template the image has no purpose left: the file goes once this is committed.
    key = upload.source_key
    upload.source_key = None
    upload.state = UploadState.FAILED
    upload.error = message
    upload.finished_at = utcnow()
    events.record(
        session,
        "reference.failed",
        f"person:{upload.person_id}",
        {"upload": upload.id, "error": message},
        actor="enrolment",
    )
    return Enrolment(upload, key)


def enrol_upload(session: so.Session, rt: Runtime, upload_id: int) -> Enrolment:
    """Enrol a queued reference photo (runs in the worker); failures are recorded on the upload.

    The caller commits, then deletes `delete_key` from storage: biometric source data is not
    kept for an upload that failed.
    """
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.engine import EngineUnavailable

    upload = session.get(ReferenceUpload, upload_id)
    if upload is None or upload.state != "pending":
        return Enrolment(upload)
    person = session.get(Person, upload.person_id)
    assert person is not None  # the upload row cascades with its person
    if not has_biometric_consent(session, person):
        return _failed(
            session,
            upload,
            f"{person.name} has no active biometric consent: the reference photo was deleted",
        )
    if not upload.source_key or not rt.storage.exists(upload.source_key):
        return _failed(session, upload, "the stored reference photo is missing")
    image = rt.vault.decrypt(rt.storage.read(upload.source_key))
    try:
        ref = enrol_reference(
            session, rt, person, image, upload.original_name, stored_key=upload.source_key
        )
    except (ConsentError, ImageRejected, EngineUnavailable) as exc:
        return _failed(session, upload, str(exc))
    upload.state = UploadState.DONE
    upload.reference_face_id = ref.id
    upload.finished_at = utcnow()
    return Enrolment(upload)


# Asked on every view of a person's page: built once, given the person's id.
_REFERENCE_COUNT = sa.select(sa.func.count(ReferenceFace.id)).where(
    ReferenceFace.person_id == sa.bindparam("person")
)
_RECENT_UPLOADS = (
    sa.select(ReferenceUpload)
    .where(ReferenceUpload.person_id == sa.bindparam("person"))
    .order_by(ReferenceUpload.created_at.desc())
    .limit(sa.bindparam("limit"))
)


def reference_count(session: so.Session, person: Person) -> int:
    """How many reference faces are enrolled, counted in SQL without loading the templates."""
    return session.scalar(_REFERENCE_COUNT, {"person": person.id}) or 0


def recent_uploads(session: so.Session, person: Person, limit: int = 20) -> list[ReferenceUpload]:
    """The person's latest reference uploads, newest first (their page shows how each went)."""
    return list(session.scalars(_RECENT_UPLOADS, {"person": person.id, "limit": limit}))
