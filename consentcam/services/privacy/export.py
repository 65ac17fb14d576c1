"""A person's access export (GDPR Art. 15): everything stored about them as one ZIP."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS
from consentcam.domain.vocabulary import iso as _iso
from consentcam.models import (
    ConsentRecord,
    Event,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    ReferenceFace,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of
from consentcam.services.people import person_fields
from consentcam.wording import N_

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# The exported photos are for reading, not printing: this long side keeps the ZIP small.
EXPORT_SIDE = 1600

_EXT = EVIDENCE_EXTENSIONS


def blur_boxes(im: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """Make each box unrecognisable with the same blur the published copies use."""
    from consentcam.services.cleared import blur_faces

    return blur_faces(im, boxes)


def photo_with_others_blurred(rt: Runtime, photo: Photo, person_id: int) -> bytes:
    """The photo as JPEG (upright, no metadata) with every face but the person's blurred."""
    from consentcam.faces.decode import load_upright

    data = rt.storage.read(photo.original_key)
    decoded = load_upright(
        data,
        max_pixels=int(rt.settings["MAX_PIXELS"]),
        max_side=EXPORT_SIDE,
        name=photo.original_name,
    )
    im = Image.fromarray(decoded.rgb, "RGB")
    s = decoded.scale
    others = [
        (int(f.left / s), int(f.top / s), int(round(f.right / s)), int(round(f.bottom / s)))
        for f in photo.faces
        if f.person_id != person_id
    ]
    im = blur_boxes(im, others)
    clean = Image.new("RGB", im.size)
    clean.paste(im)
    buf = io.BytesIO()
    clean.save(buf, "JPEG", quality=88)
    return buf.getvalue()


@dataclass
class Export:
    """A finished access export: the ZIP's bytes, its file name and what went into it."""

    data: bytes
    filename: str
    files: list[str] = field(default_factory=list)


class _Archive:
    """A ZIP written in memory, listing what goes into it."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.zf = zipfile.ZipFile(self.buf, "w", zipfile.ZIP_DEFLATED)
        self.files: list[str] = []

    def add(self, name: str, data: bytes) -> None:
        # Fixed timestamps: the same data gives the same archive.
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zf.writestr(info, data)
        self.files.append(name)

    def close(self) -> bytes:
        self.zf.close()
        return self.buf.getvalue()


@dataclass(frozen=True)
class _Rows:
    """Every row about one person that the export reads."""

    consents: Sequence[ConsentRecord]
    photos: Sequence[Photo]
    pubs: Sequence[Publication]
    tasks: Sequence[RemovalTask]
    refs: Sequence[ReferenceFace]
    events: Sequence[Event]


def export_person(
    session: so.Session, rt: Runtime, person: Person, actor: User | None = None
) -> Export:
    """Gather everything stored about one person into a ZIP (readable HTML + machine JSON).

    Evidence and reference photos are decrypted; in the photos every other person's face is
    blurred. Records a ``person.exported`` event (without personal data).
    """
    pid = person.id
    rows = _rows(session, pid)
    archive = _Archive()
    consents = _consent_items(rt, rows.consents, archive)
    data = {
        "about": "Everything consentcam stores about one person (GDPR Art. 15).",
        "controller": rt.settings.get("BUSINESS_NAME") or "",
        "responsible_person": rt.settings.get("RESPONSIBLE_PERSON") or "",
        "exported_at": _iso(utcnow()),
        "person": _person_item(person),
        "consents": consents,
        "reference_photos": _reference_items(
            rt, rows.refs, archive, _customer_language(rt, consents)
        ),
        "photos": _photo_items(rt, rows.photos, pid, archive),
        **_history_items(session, pid, rows),
    }
    archive.add("data.json", json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
    language = summary_language(data, str(rt.settings.get("LANGUAGE") or "en"))
    zone = str(rt.settings.get("TIME_ZONE") or "Europe/Stockholm")
    archive.add("summary.html", _summary_html(data, language, zone).encode("utf-8"))
    zipped = archive.close()
    events.record(
        session,
        "person.exported",
        f"person:{pid}",
        {"files": len(archive.files), "sha256": hashlib.sha256(zipped).hexdigest()},
        actor=actor_of(actor),
    )
    return Export(zipped, f"person-{pid}-export.zip", archive.files)


def _rows(session: so.Session, pid: int) -> _Rows:
    consents = session.scalars(
        sa.select(ConsentRecord)
        .where(ConsentRecord.person_id == pid)
        .options(so.selectinload(ConsentRecord.channels), so.selectinload(ConsentRecord.photos))
        .order_by(ConsentRecord.given_at)
    ).all()
    photos = session.scalars(
        sa.select(Photo)
        .where(Photo.id.in_(sa.select(Face.photo_id).where(Face.person_id == pid)))
        .options(so.selectinload(Photo.faces))
        .order_by(Photo.id)
    ).all()
    recorded = sa.select(PublicationFace.publication_id).where(PublicationFace.person_id == pid)
    pubs = session.scalars(
        sa.select(Publication)
        .where(
            sa.or_(
                Publication.id.in_(recorded),
                Publication.photo_id.in_([p.id for p in photos]),
            )
        )
        .order_by(Publication.published_at)
    ).all()
    tasks = session.scalars(
        sa.select(RemovalTask).where(RemovalTask.person_id == pid).order_by(RemovalTask.id)
    ).all()
    refs = session.scalars(
        sa.select(ReferenceFace).where(ReferenceFace.person_id == pid).order_by(ReferenceFace.id)
    ).all()
    person_events = session.scalars(
        sa.select(Event).where(Event.subject == f"person:{pid}").order_by(Event.seq)
    ).all()
    return _Rows(consents, photos, pubs, tasks, refs, person_events)


def _person_item(person: Person) -> dict[str, Any]:
    return {
        **person_fields(person),
        "last_activity_at": _iso(person.last_activity_at),
        "erased_at": _iso(person.erased_at),
    }


def _decrypted(rt: Runtime, key: str | None, what: str) -> bytes | None:
    """A stored encrypted file, decrypted; None when there is none or it cannot be read (the
    export goes on without it, and the log says which)."""
    if not key:
        return None
    try:
        return rt.vault.decrypt(rt.storage.read(key))
    except (OSError, ValueError) as exc:
        log.warning("export: %s unreadable: %s", what, exc)
        return None


def _consent_items(
    rt: Runtime, consents: Sequence[ConsentRecord], archive: _Archive
) -> list[dict[str, Any]]:
    """Each consent record, its evidence decrypted into the archive."""
    items = []
    for c in consents:
        evidence_file = None
        raw = _decrypted(rt, c.evidence_key, f"evidence of consent {c.id}")
        if raw is not None:
            ending = _EXT.get(c.evidence_mime or "", "bin")
            evidence_file = f"consents/consent-{c.id}-evidence.{ending}"
            archive.add(evidence_file, raw)
        version = c.form_version
        items.append(
            {
                "id": c.id,
                "given_at": _iso(c.given_at),
                "expires_at": _iso(c.expires_at),
                "scope": c.scope,
                "photos": sorted(p.photo_id for p in c.photos),
                "channels": [
                    {"channel": ch.channel, "withdrawn_at": _iso(ch.withdrawn_at)}
                    for ch in c.channels
                ],
                "biometric": c.biometric,
                "biometric_withdrawn_at": _iso(c.biometric_withdrawn_at),
                "signer_name": c.signer_name,
                "signed_by_guardian": c.signed_by_guardian,
                "evidence_kind": c.evidence_kind,
                "evidence_sha256": c.evidence_sha256,
                "evidence_file": evidence_file,
                "form_version": f"{version.language}-v{version.version}" if version else None,
                "form_text": version.body if version else None,
                "note": c.note,
            }
        )
    return items


def _reference_items(
    rt: Runtime, refs: Sequence[ReferenceFace], archive: _Archive, language: str
) -> list[dict[str, Any]]:
    """Each reference photo, decrypted into the archive and named in the customer's words."""
    word = "referensfoto" if language == "sv" else "reference-photo"
    items = []
    for number, r in enumerate(refs, start=1):
        ref_file = None
        raw = _decrypted(rt, r.source_key, f"reference {r.id}")
        if raw is not None:
            # With the ending its content has.
            ref_file = f"reference-photos/{word}-{number}.{_image_ending(raw)}"
            archive.add(ref_file, raw)
        items.append(
            {
                "id": r.id,
                "created_at": _iso(r.created_at),
                "file": ref_file,
                "note": "A face template (128 numbers) derived from this photo is stored for "
                "automatic recognition.",
            }
        )
    return items


def _photo_items(
    rt: Runtime, photos: Sequence[Photo], pid: int, archive: _Archive
) -> list[dict[str, Any]]:
    """Each photo showing the person, into the archive with every other face blurred."""
    items = []
    for photo in photos:
        photo_file = None
        try:
            archive.add(f"photos/photo-{photo.id}.jpg", photo_with_others_blurred(rt, photo, pid))
            photo_file = f"photos/photo-{photo.id}.jpg"
        except (OSError, ValueError) as exc:
            log.warning("export: photo %s unreadable: %s", photo.id, exc)
        items.append(
            {
                "id": photo.id,
                "uploaded_at": _iso(photo.uploaded_at),
                "file": photo_file,
                "your_faces": [
                    {"number": f.number, "box": list(f.box), "state": f.state}
                    for f in photo.faces
                    if f.person_id == pid
                ],
                "other_faces_blurred": sum(1 for f in photo.faces if f.person_id != pid),
            }
        )
    return items


def _history_items(session: so.Session, pid: int, rows: _Rows) -> dict[str, Any]:
    """The person's publications, removal tasks and events (names unsealed for them)."""
    return {
        "publications": [
            {
                "id": p.id,
                "photo_id": p.photo_id,
                "channel": p.channel,
                "url": p.url,
                "published_at": _iso(p.published_at),
                "live": p.live,
                "removed_at": _iso(p.removed_at),
            }
            for p in rows.pubs
        ],
        "removal_tasks": [
            {
                "id": t.id,
                "publication_id": t.publication_id,
                "status": t.status,
                "due_at": _iso(t.due_at),
                "closed_at": _iso(t.closed_at),
            }
            for t in rows.tasks
        ],
        "events": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "kind": e.kind,
                "payload": events.unseal(session, pid, json.loads(e.payload)),
            }
            for e in rows.events
        ],
    }


# What each event in a person's history means, in plain words for the customer.
HAPPENED = {
    "person.added": N_("You were added to the customer register."),
    "person.updated": N_("Your details were changed."),
    "consent.given": N_("You gave your consent."),
    "consent.withdrawn": N_("You withdrew your consent (in whole or in part)."),
    "reference.uploaded": N_("A reference photo for face recognition was added."),
    "reference.enrolled": N_("Face recognition was set up from a reference photo."),
    "reference.failed": N_("A reference photo could not be used."),
    "templates.deleted": N_("Your face templates were deleted."),
    "person.exported": N_("A copy of your data was made."),
    "person.erased": N_("Your data was erased."),
}


def _customer_language(rt: Runtime, consents: list[dict[str, Any]]) -> str:
    return summary_language({"consents": consents}, str(rt.settings.get("LANGUAGE") or "en"))


def _image_ending(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "heic"
    return "bin"


OTHER_CHANGE = N_("Other change")


def summary_language(data: dict[str, Any], default: str) -> str:
    """The customer's language: that of the last form they signed, else the business's."""
    for consent in reversed(data.get("consents") or []):
        version = str(consent.get("form_version") or "")
        if version[:2] in ("sv", "en"):
            return version[:2]
    return default if default in ("sv", "en") else "en"


def _summary_html(data: dict[str, Any], language: str, time_zone: str) -> str:
    """The export's summary.html, for the customer, in their language (a Jinja template)."""
    from consentcam.reports import CHANNEL_NAMES, i18n

    env = i18n.environment(language, time_zone)

    def channel(code: str) -> str:
        return i18n.gettext(language, CHANNEL_NAMES.get(code, code))

    def happened(kind: str) -> str:
        return i18n.gettext(language, HAPPENED.get(kind, OTHER_CHANGE))

    return env.get_template("export_summary.html").render(
        d=data, p=data["person"], channel=channel, happened=happened
    )
