"""Privacy rights and retention: a person's access export (Art. 15), erasure (Art. 17) and purge."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.domain.retention import PersonActivity, parse_period, plan_purge
from consentcam.domain.types import FaceState
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
    QueueItem,
    ReferenceFace,
    ReferenceUpload,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of
from consentcam.wording import N_, WordedError

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# The exported photos are for reading, not printing: this long side keeps the ZIP small.
EXPORT_SIDE = 1600


class PrivacyError(WordedError, ValueError):
    """A privacy request cannot be carried out as asked."""


class ErasureRefused(PrivacyError):
    """The person is still shown in live publications."""

    def __init__(self, person_id: int, publication_ids: Sequence[int]) -> None:
        self.person_id = person_id
        self.publication_ids = list(publication_ids)
        posts = ", ".join(f"#{p}" for p in self.publication_ids)
        super().__init__(
            N_(
                "This person is still shown in live posts (%(count)s: %(posts)s). Withdraw "
                "their consent first; removal tasks follow, and once the posts are down the "
                "erasure can be done."
            ),
            count=len(self.publication_ids),
            posts=posts,
        )


# --- Who is shown where ----------------------------------------------------------------------


def live_publications_showing(person_ids: Iterable[int]) -> sa.CompoundSelect[int | None, int]:
    """(person_id, publication_id) of live posts showing each person, now or when published."""
    ids = sorted(set(person_ids))
    on_photo = (
        sa.select(Face.person_id.label("pid"), Publication.id.label("pub"))
        .join(Publication, Publication.photo_id == Face.photo_id)
        .where(Publication.live.is_(True), Face.person_id.in_(ids))
    )
    recorded = (
        sa.select(PublicationFace.person_id.label("pid"), Publication.id.label("pub"))
        .join(Publication, Publication.id == PublicationFace.publication_id)
        .where(Publication.live.is_(True), PublicationFace.person_id.in_(ids))
    )
    return sa.union(on_photo, recorded)


def live_posts_of(session: so.Session, person_id: int) -> list[int]:
    return sorted({row.pub for row in session.execute(live_publications_showing([person_id]))})


# --- Access (Art. 15) --------------------------------------------------------------------------


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


_EXT = EVIDENCE_EXTENSIONS


@dataclass
class Export:
    """A finished access export: the ZIP's bytes, its file name and what went into it."""

    data: bytes
    filename: str
    files: list[str] = field(default_factory=list)


def export_person(
    session: so.Session, rt: Runtime, person: Person, actor: User | None = None
) -> Export:
    """Gather everything stored about one person into a ZIP (readable HTML + machine JSON).

    Evidence and reference photos are decrypted; in the photos every other person's face is
    blurred. Records a ``person.exported`` event (without personal data).
    """
    pid = person.id
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
    pubs = session.scalars(
        sa.select(Publication)
        .where(
            sa.or_(
                Publication.id.in_(
                    sa.select(PublicationFace.publication_id).where(
                        PublicationFace.person_id == pid
                    )
                ),
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

    buf = io.BytesIO()
    files: list[str] = []
    zf = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED)

    def add(name: str, data: bytes) -> None:
        # Fixed timestamps: the same data gives the same archive.
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
        files.append(name)

    consent_items = []
    for c in consents:
        evidence_file = None
        if c.evidence_key:
            try:
                raw = rt.vault.decrypt(rt.storage.read(c.evidence_key))
            except (OSError, ValueError) as exc:
                log.warning("export: evidence of consent %s unreadable: %s", c.id, exc)
            else:
                evidence_file = (
                    f"consents/consent-{c.id}-evidence.{_EXT.get(c.evidence_mime or '', 'bin')}"
                )
                add(evidence_file, raw)
        consent_items.append(
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
                "form_version": (
                    f"{c.form_version.language}-v{c.form_version.version}"
                    if c.form_version
                    else None
                ),
                "form_text": c.form_version.body if c.form_version else None,
                "note": c.note,
            }
        )
    ref_items = []
    for number, r in enumerate(refs, start=1):
        ref_file = None
        if r.source_key:
            try:
                raw = rt.vault.decrypt(rt.storage.read(r.source_key))
            except (OSError, ValueError) as exc:
                log.warning("export: reference %s unreadable: %s", r.id, exc)
            else:
                # Named in the customer's words, with the ending its content has.
                word = (
                    "referensfoto"
                    if _customer_language(rt, consent_items) == "sv"
                    else ("reference-photo")
                )
                ref_file = f"reference-photos/{word}-{number}.{_image_ending(raw)}"
                add(ref_file, raw)
        ref_items.append(
            {
                "id": r.id,
                "created_at": _iso(r.created_at),
                "file": ref_file,
                "note": "A face template (128 numbers) derived from this photo is stored for "
                "automatic recognition.",
            }
        )
    photo_items = []
    for photo in photos:
        photo_file = None
        try:
            add(f"photos/photo-{photo.id}.jpg", photo_with_others_blurred(rt, photo, pid))
            photo_file = f"photos/photo-{photo.id}.jpg"
        except (OSError, ValueError) as exc:
            log.warning("export: photo %s unreadable: %s", photo.id, exc)
        photo_items.append(
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
    pub_items = [
        {
            "id": p.id,
            "photo_id": p.photo_id,
            "channel": p.channel,
            "url": p.url,
            "published_at": _iso(p.published_at),
            "live": p.live,
            "removed_at": _iso(p.removed_at),
        }
        for p in pubs
    ]
    task_items = [
        {
            "id": t.id,
            "publication_id": t.publication_id,
            "status": t.status,
            "due_at": _iso(t.due_at),
            "closed_at": _iso(t.closed_at),
        }
        for t in tasks
    ]
    event_items = [
        {
            "seq": e.seq,
            "at": _iso(e.at),
            "kind": e.kind,
            "payload": events.unseal(session, person.id, json.loads(e.payload)),
        }
        for e in person_events
    ]
    data = {
        "about": "Everything consentcam stores about one person (GDPR Art. 15).",
        "controller": rt.settings.get("BUSINESS_NAME") or "",
        "responsible_person": rt.settings.get("RESPONSIBLE_PERSON") or "",
        "exported_at": _iso(utcnow()),
        "person": {
            "id": pid,
            "name": person.name,
            "email": person.email,
            "phone": person.phone,
            "is_minor": person.is_minor,
            "note": person.note,
            "created_at": _iso(person.created_at),
            "last_activity_at": _iso(person.last_activity_at),
            "erased_at": _iso(person.erased_at),
        },
        "consents": consent_items,
        "reference_photos": ref_items,
        "photos": photo_items,
        "publications": pub_items,
        "removal_tasks": task_items,
        "events": event_items,
    }
    add("data.json", json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
    language = summary_language(data, str(rt.settings.get("LANGUAGE") or "en"))
    zone = str(rt.settings.get("TIME_ZONE") or "Europe/Stockholm")
    add("summary.html", _summary_html(data, language, zone).encode("utf-8"))
    zf.close()
    archive = buf.getvalue()
    events.record(
        session,
        "person.exported",
        f"person:{pid}",
        {"files": len(files), "sha256": hashlib.sha256(archive).hexdigest()},
        actor=actor_of(actor),
    )
    return Export(archive, f"person-{pid}-export.zip", files)


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


# --- Erasure (Art. 17) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    person_id: int
    references: int
    evidence_files: int
    faces_unlinked: int
    consents_ended: int
    files_deleted: int


def _scrub_queue_reasons(session: so.Session, name: str, replacement: str) -> None:
    """Queue reasons name the people they are about: put the erased label in place of the name."""
    if not name:
        return
    for item in session.scalars(
        sa.select(QueueItem).where(
            QueueItem.blockers.is_not(None), QueueItem.blockers.contains(name, autoescape=True)
        )
    ):
        entries = json.loads(item.blockers or "[]")
        text = json.dumps(entries, ensure_ascii=False).replace(
            json.dumps(name, ensure_ascii=False)[1:-1], replacement
        )
        item.blockers = text


def erased_name(person_id: int) -> str:
    return f"Erased person #{person_id}"


def erase_person(
    session: so.Session,
    rt: Runtime,
    person: Person,
    actor: User | None = None,
    *,
    at: datetime | None = None,
    actor_name: str | None = None,
) -> Erasure:
    """Erase a person's personal data, templates and files, keeping a pseudonymous shell.

    Refused (ErasureRefused) while a live post still shows them. Their faces are unlinked and
    set back to "pending", so a photo showing them needs review again and can never become
    cleared by accident; their remaining consent is ended. Files are deleted after the rows, in
    the caller's transaction's flush; a file another person's row still uses is kept.
    """
    if person.erased_at is not None:
        raise PrivacyError(
            N_("person %(person)s was erased on %(date)s"),
            person=person.id,
            date=person.erased_at.date().isoformat(),
        )
    live = live_posts_of(session, person.id)
    if live:
        raise ErasureRefused(person.id, live)
    now = at or utcnow()
    pid = person.id
    keys: set[str] = set()

    refs = session.scalars(sa.select(ReferenceFace).where(ReferenceFace.person_id == pid)).all()
    uploads = session.scalars(
        sa.select(ReferenceUpload).where(ReferenceUpload.person_id == pid)
    ).all()
    for r in refs:
        if r.source_key:
            keys.add(r.source_key)
    for u in uploads:
        if u.source_key:
            keys.add(u.source_key)
        session.delete(u)
    for r in refs:
        session.delete(r)

    consents = session.scalars(
        sa.select(ConsentRecord)
        .where(ConsentRecord.person_id == pid)
        .options(so.selectinload(ConsentRecord.channels))
    ).all()
    evidence = 0
    ended = 0
    for c in consents:
        if c.evidence_key:
            keys.add(c.evidence_key)
            evidence += 1
        c.evidence_key = None
        c.signer_name = erased_name(pid)
        c.note = None
        touched = False
        for ch in c.channels:
            if ch.withdrawn_at is None:
                ch.withdrawn_at = now
                touched = True
        if c.biometric and c.biometric_withdrawn_at is None:
            c.biometric_withdrawn_at = now
            touched = True
        ended += int(touched)

    faces = session.scalars(
        sa.select(Face).where(sa.or_(Face.person_id == pid, Face.suggested_person_id == pid))
    ).all()
    unlinked = 0
    for f in faces:
        f.template = None
        if f.suggested_person_id == pid:
            f.suggested_person_id = None
            f.distance = None
            f.gap = None
        if f.person_id == pid:
            f.person_id = None
            f.state = FaceState.PENDING
            f.reviewed_at = None
            f.reviewed_by_id = None
            unlinked += 1
        elif f.state == "suggested" and f.suggested_person_id is None:
            f.state = FaceState.PENDING

    _scrub_queue_reasons(session, person.name, erased_name(pid))
    person.name = erased_name(pid)
    person.email = None
    person.phone = None
    person.note = None
    person.erased_at = now
    # Crypto-shredding: the name sealed into the event log can no longer be read.
    events.shred(session, pid)
    session.flush()
    # Their own links stop working, and the addresses their e-mails went to are forgotten.
    from consentcam.services import links

    links.forget_person(session, pid, now)
    # Freed pages are zeroed (secure_delete) and the WAL is written back and emptied once the
    # caller commits, so the old values are in no file on disk (db.checkpoint_after_commit).
    session.info["checkpoint_after_commit"] = True

    # A file is content-addressed: another person's row may point to the same bytes.
    still_used: set[str] = set()
    if keys:
        listed = sorted(keys)
        still_used.update(
            session.scalars(
                sa.select(ConsentRecord.evidence_key).where(ConsentRecord.evidence_key.in_(listed))
            )
        )
        still_used.update(
            session.scalars(
                sa.select(ReferenceFace.source_key).where(ReferenceFace.source_key.in_(listed))
            )
        )
        still_used.update(
            session.scalars(
                sa.select(ReferenceUpload.source_key).where(ReferenceUpload.source_key.in_(listed))
            )
        )
    deleted = 0
    for key in sorted(keys - still_used):
        rt.storage.delete(key)
        deleted += 1
    result = Erasure(pid, len(refs), evidence, unlinked, ended, deleted)
    events.record(
        session,
        "person.erased",
        f"person:{pid}",
        {
            "references": result.references,
            "evidence_files": result.evidence_files,
            "faces_unlinked": result.faces_unlinked,
            "consents_ended": result.consents_ended,
            "files_deleted": result.files_deleted,
        },
        actor=actor_name or actor_of(actor),
        at=now,
    )
    return result


# --- Retention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeEntry:
    person_id: int
    name: str
    last_activity_at: datetime
    live_posts: tuple[int, ...] = ()


@dataclass(frozen=True)
class PurgeResult:
    period: timedelta
    cutoff: datetime
    dry_run: bool
    erase: tuple[PurgeEntry, ...]
    kept_live: tuple[PurgeEntry, ...]
    erased: tuple[int, ...] = ()


def purge(
    session: so.Session,
    rt: Runtime,
    period: str | None = None,
    *,
    dry_run: bool = True,
    now: datetime | None = None,
    actor: str | None = "retention",
) -> PurgeResult:
    """Erase people inactive for ``period`` (default: the RETENTION setting), or list them.

    People still shown in a live post are skipped and reported. Erased people are left out.
    """
    text = period or str(rt.settings.get("RETENTION") or "2y")
    length = parse_period(text)
    now = now or utcnow()
    cutoff = now - length
    rows = session.execute(
        sa.select(Person.id, Person.name, Person.last_activity_at).where(
            Person.erased_at.is_(None), Person.last_activity_at <= cutoff
        )
    ).all()
    ids = [r.id for r in rows]
    live: dict[int, set[int]] = {}
    for start in range(0, len(ids), 500):
        for row in session.execute(live_publications_showing(ids[start : start + 500])):
            live.setdefault(row.pid, set()).add(row.pub)
    info = {r.id: r for r in rows}
    plan = plan_purge(
        [PersonActivity(r.id, r.last_activity_at, r.id in live) for r in rows], now, length
    )

    def entry(pid: int) -> PurgeEntry:
        r = info[pid]
        return PurgeEntry(pid, r.name, r.last_activity_at, tuple(sorted(live.get(pid, ()))))

    erase = tuple(entry(p) for p in plan.erase)
    kept = tuple(entry(p) for p in plan.kept_live)
    erased: list[int] = []
    if not dry_run:
        for item in erase:
            person = session.get(Person, item.person_id)
            if person is None:
                continue
            erase_person(session, rt, person, at=now, actor_name=actor)
            erased.append(item.person_id)
        events.record(
            session,
            "retention.purged",
            "retention",
            {"period": text, "erased": erased, "kept_live": [k.person_id for k in kept]},
            actor=actor,
            at=now,
        )
    return PurgeResult(length, cutoff, dry_run, erase, kept, tuple(erased))


__all__ = [
    "ErasureRefused",
    "Export",
    "PrivacyError",
    "erase_person",
    "export_person",
    "purge",
]
