"""People and their consent: add a person, record a signed consent, enrol reference faces."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain import vocabulary
from consentcam.domain.types import Channel, Scope, UploadState
from consentcam.models import (
    ConsentChannel,
    ConsentFormVersion,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    ReferenceFace,
    ReferenceUpload,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.scanning import scan_settings, template_bytes
from consentcam.wording import N_, WordedError

EVIDENCE_TYPES = vocabulary.EVIDENCE_EXTENSIONS
LANGUAGES = ("en", "sv")


class ConsentError(WordedError, ValueError):
    """A consent request that cannot be recorded as asked; the message says why."""


class FormDetailsMissing(ConsentError):
    """The consent form cannot be shown or signed until the business's details are set."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        if missing == ["BUSINESS_NAME"]:
            super().__init__(
                N_(
                    "Enter the business's name in the settings before recording a consent: the form names it."
                )
            )
        elif missing == ["RESPONSIBLE_PERSON"]:
            super().__init__(
                N_(
                    "Enter the person responsible for the data in the settings before recording "
                    "a consent: the form names them."
                )
            )
        else:
            super().__init__(
                N_(
                    "Enter the business's name and the person responsible for the data in the "
                    "settings before recording a consent: the form names them."
                )
            )


def form_template(language: str) -> str:
    if language not in LANGUAGES:
        raise ConsentError(
            N_("no consent form in language %(language)r (have: %(have)s)"),
            language=language,
            have=", ".join(LANGUAGES),
        )
    return (
        resources.files("consentcam")
        .joinpath("forms", f"consent_{language}.txt")
        .read_text("utf-8")
    )


# Settings a consent form names; without them the form would print placeholders.
FORM_DETAILS = ("BUSINESS_NAME", "RESPONSIBLE_PERSON")


def missing_form_details(settings: Mapping[str, object]) -> list[str]:
    """The settings the consent form needs that are still empty (none: the form can be signed)."""
    return [name for name in FORM_DETAILS if not str(settings.get(name) or "").strip()]


def retention_in_words(period: str, language: str) -> str:
    """A retention period as the form says it: "2y" is "2 år" in Swedish, "2 years" in English."""
    from babel.units import format_unit

    match = re.fullmatch(r"\s*(\d+)\s*([ymdYMD])\s*", str(period))
    if match is None:
        return str(period)
    unit = {"y": "duration-year", "m": "duration-month", "d": "duration-day"}
    return format_unit(
        int(match.group(1)), unit[match.group(2).lower()], length="long", locale=language
    )


def form_text(rt: Runtime, language: str) -> str:
    """The consent form exactly as the business prints it, with its own details filled in.

    The one place the form's text is made: the owner's form, its printed PDF and the customer's
    own consent page all show this text. Refused while the business name or the responsible
    person is not set, so nobody signs a form with a blank where the business should be.
    """
    s = rt.settings
    missing = missing_form_details(s)
    if missing:
        raise FormDetailsMissing(missing)
    return form_template(language).format(
        business=str(s["BUSINESS_NAME"]).strip(),
        removal_days=s["REMOVAL_DUE_DAYS"],
        retention=retention_in_words(str(s["RETENTION"]), language),
        responsible=str(s["RESPONSIBLE_PERSON"]).strip(),
    )


def current_form(session: so.Session, rt: Runtime, language: str) -> ConsentFormVersion:
    """Return the stored version of today's form text, adding a new version when the text changed."""
    text = form_text(rt, language)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    latest = session.scalar(
        sa.select(ConsentFormVersion)
        .where(ConsentFormVersion.language == language)
        .order_by(ConsentFormVersion.version.desc())
        .limit(1)
    )
    if latest is not None and latest.sha256 == digest:
        return latest
    version = ConsentFormVersion(
        language=language,
        version=(latest.version + 1) if latest else 1,
        title=text.splitlines()[0],
        body=text,
        sha256=digest,
    )
    session.add(version)
    session.flush()
    return version


def shown_form(session: so.Session, language: str, sha256: str) -> ConsentFormVersion:
    """The stored form version whose text has this SHA-256 (the one a person was shown)."""
    version = session.scalar(
        sa.select(ConsentFormVersion)
        .where(ConsentFormVersion.language == language, ConsentFormVersion.sha256 == sha256)
        .limit(1)
    )
    if version is None:
        raise ConsentError(
            N_("The form text shown is not on record: show the form again and sign.")
        )
    return version


def person_name(name: str) -> str:
    """A person's name as stored: trimmed, and never empty."""
    name = name.strip()
    if not name:
        raise ConsentError(N_("a person needs a name"))
    if hidden_characters(name):
        raise ConsentError(N_("a name cannot contain control characters or text-direction marks"))
    return name


def hidden_characters(text: str) -> bool:
    """True when ``text`` holds a control character (NUL, line breaks) or an invisible format
    character such as U+202E, which reverses how the rest of a name is shown."""
    import unicodedata

    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def add_person(
    session: so.Session,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    is_minor: bool = False,
    note: str | None = None,
    actor: User | None = None,
) -> Person:
    name = person_name(name)
    person = Person(
        name=name, email=email or None, phone=phone or None, is_minor=is_minor, note=note or None
    )
    session.add(person)
    session.flush()
    # The name goes into the log sealed with the person's own key, shredded at erasure.
    events.record(
        session,
        "person.added",
        f"person:{person.id}",
        personal={"name": name},
        person_id=person.id,
        actor=_actor(actor),
    )
    return person


def parse_channels(values: Iterable[str]) -> list[Channel]:
    return list(vocabulary.parse_channels(values, ConsentError))


def give_consent(
    session: so.Session,
    rt: Runtime,
    person: Person,
    *,
    channels: Iterable[str],
    evidence: bytes,
    evidence_mime: str,
    evidence_kind: str,
    signer_name: str | None = None,
    guardian: bool = False,
    scope: str = "all",
    photo_ids: Iterable[int] = (),
    expires_at: datetime | None = None,
    biometric: bool = False,
    language: str = "en",
    given_at: datetime | None = None,
    actor: User | None = None,
    note: str | None = None,
    form_sha256: str | None = None,
) -> ConsentRecord:
    """Record a signed consent with its evidence file (stored encrypted, with its SHA-256).

    ``form_sha256`` names the form version the person was shown: the record keeps exactly that
    text, even if the settings changed the form since (without it: today's form).
    """
    chosen = parse_channels(channels)
    if not chosen and not biometric:
        raise ConsentError(N_("choose at least one channel, or biometric recognition"))
    if evidence_kind not in ("signature", "scan"):
        raise ConsentError(
            N_("evidence must be an on-screen signature or a scan of the signed form")
        )
    if evidence_mime not in EVIDENCE_TYPES:
        raise ConsentError(N_("evidence must be a PNG, JPEG or PDF file"))
    if not evidence:
        raise ConsentError(N_("the evidence file is empty"))
    try:
        scope_value = Scope(scope)
    except ValueError as exc:
        raise ConsentError(N_("scope must be 'all' or 'listed'")) from exc
    photo_list = sorted(set(photo_ids))
    if scope_value is Scope.LISTED and not photo_list:
        raise ConsentError(N_("a consent for chosen photos must list at least one photo"))
    if person.is_minor and not guardian:
        raise ConsentError(N_("%(name)s is a minor: a guardian must sign"), name=person.name)
    given = given_at or utcnow()
    if expires_at is not None and expires_at <= given:
        raise ConsentError(N_("the expiry date must be after the date the consent is given"))
    digest = hashlib.sha256(evidence).hexdigest()
    key, _ = rt.storage.put("evidence", rt.vault.encrypt(evidence), "bin")
    form = shown_form(session, language, form_sha256) if form_sha256 else None
    form = form or current_form(session, rt, language)
    record = ConsentRecord(
        person=person,
        scope=scope_value.value,
        given_at=given,
        expires_at=expires_at,
        signer_name=(signer_name or person.name).strip(),
        signed_by_guardian=guardian,
        evidence_kind=evidence_kind,
        evidence_key=key,
        evidence_sha256=digest,
        evidence_mime=evidence_mime,
        form_version=form,
        biometric=biometric,
        created_by_id=actor.id if actor else None,
        note=note,
    )
    record.channels = [ConsentChannel(channel=c.value) for c in chosen]
    record.photos = [ConsentPhoto(photo_id=pid) for pid in photo_list]
    session.add(record)
    person.last_activity_at = given
    session.flush()
    events.record(
        session,
        "consent.given",
        f"person:{person.id}",
        {
            "consent": record.id,
            "channels": [c.value for c in chosen],
            "scope": scope_value.value,
            "photos": photo_list,
            "expires_at": expires_at,
            "biometric": biometric,
            "evidence_sha256": digest,
            "form": f"{form.language}-v{form.version}",
            "guardian": guardian,
        },
        actor=_actor(actor),
    )
    return record


def has_biometric_consent(session: so.Session, person: Person, at: datetime | None = None) -> bool:
    at = at or utcnow()
    return any(
        c.biometric
        and c.biometric_withdrawn_at is None
        and c.given_at <= at
        and (c.expires_at is None or at < c.expires_at)
        for c in person.consents
    )


def _clean_reference(rt: Runtime, image: bytes, name: str) -> bytes:
    """A reference photo as it is kept: re-encoded like every stored image (no EXIF, GPS, comments
    or trailing bytes), so neither the files nor a person's export carry more than the pixels."""
    from consentcam.faces.decode import ImageRejected
    from consentcam.services.photos import reencode

    try:
        return reencode(image, max_pixels=int(rt.settings["MAX_PIXELS"]), name=name).data
    except ImageRejected as exc:
        raise ConsentError(exc.template, **exc.params) from exc


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
        kept = _clean_reference(rt, image, name)
        key = rt.storage.put("references", rt.vault.encrypt(kept), "bin")[0]
    else:  # an upload stored earlier, already re-encoded
        kept, key = image, stored_key
    # The SHA-256 of the bytes kept, so a backup or an audit can check the file.
    digest = hashlib.sha256(kept).hexdigest()
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


# --- Editing and listing people -------------------------------------------------------------

EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
SIGNATURE_MAX_BYTES = 2 * 1024 * 1024
# A signature pad is a few hundred pixels on a phone and up to a few thousand on a retina laptop.
SIGNATURE_MIN_SIDE = 50
SIGNATURE_MAX_SIDE = 4000
# A real signature leaves at least this many dark pixels; a stray tap leaves fewer.
SIGNATURE_MIN_INK = 150


class EvidenceTampered(RuntimeError):
    """A stored evidence file no longer matches the SHA-256 recorded when it was given."""


def update_person(
    session: so.Session,
    person: Person,
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    is_minor: bool = False,
    note: str | None = None,
    actor: User | None = None,
) -> Person:
    """Change a person's details; the event lists the fields that changed."""
    name = person_name(name)
    new = {
        "name": name,
        "email": (email or "").strip() or None,
        "phone": (phone or "").strip() or None,
        "is_minor": bool(is_minor),
        "note": (note or "").strip() or None,
    }
    changed = sorted(k for k, v in new.items() if getattr(person, k) != v)
    for key, value in new.items():
        setattr(person, key, value)
    if changed:
        person.last_activity_at = utcnow()
        session.flush()
        events.record(
            session,
            "person.updated",
            f"person:{person.id}",
            {"fields": changed},
            actor=_actor(actor),
        )
    return person


@dataclass(frozen=True)
class PersonRow:
    """One line of the people list: the person and counts loaded in bulk."""

    person: Person
    consents: int
    active_channels: int
    photos: int
    biometric: bool


def search_people(
    session: so.Session, query: str = "", *, page: int = 1, per_page: int = 50
) -> tuple[list[PersonRow], int]:
    """One page of people matching a name or e-mail, with their counts; returns (rows, total).

    Counts come from grouped subqueries, so a page costs three queries whatever its size.
    """
    # A page past the end is empty; a huge number must not overflow PostgreSQL's 32-bit OFFSET.
    page = max(1, min(page, (2**31 - 1) // max(1, per_page)))
    where: list[sa.ColumnElement[bool]] = [Person.erased_at.is_(None)]
    text = query.strip()
    if text:
        # Literal text: a % or _ someone types is not a wildcard.
        needle = text.lower()
        where.append(
            sa.or_(
                sa.func.lower(Person.name).contains(needle, autoescape=True),
                sa.func.lower(Person.email).contains(needle, autoescape=True),
            )
        )
    total = session.scalar(sa.select(sa.func.count(Person.id)).where(*where)) or 0
    people = list(
        session.scalars(
            sa.select(Person)
            .where(*where)
            .order_by(sa.func.lower(Person.name), Person.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    ids = [p.id for p in people]
    if not ids:
        return [], total
    now = utcnow()
    consent_counts = dict(
        session.execute(
            sa.select(ConsentRecord.person_id, sa.func.count(ConsentRecord.id))
            .where(ConsentRecord.person_id.in_(ids))
            .group_by(ConsentRecord.person_id)
        ).all()
    )
    channel_counts = dict(
        session.execute(
            sa.select(ConsentRecord.person_id, sa.func.count(sa.distinct(ConsentChannel.channel)))
            .join(ConsentChannel, ConsentChannel.consent_id == ConsentRecord.id)
            .where(
                ConsentRecord.person_id.in_(ids),
                ConsentChannel.withdrawn_at.is_(None),
                ConsentRecord.given_at <= now,
                sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
            )
            .group_by(ConsentRecord.person_id)
        ).all()
    )
    photo_counts = dict(
        session.execute(
            sa.select(Face.person_id, sa.func.count(sa.distinct(Face.photo_id)))
            .where(Face.person_id.in_(ids), Face.state == "confirmed")
            .group_by(Face.person_id)
        ).all()
    )
    biometric = set(
        session.scalars(
            sa.select(ConsentRecord.person_id).where(
                ConsentRecord.person_id.in_(ids),
                ConsentRecord.biometric.is_(True),
                ConsentRecord.biometric_withdrawn_at.is_(None),
                sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
            )
        )
    )
    rows = [
        PersonRow(
            person=p,
            consents=consent_counts.get(p.id, 0),
            active_channels=channel_counts.get(p.id, 0),
            photos=photo_counts.get(p.id, 0),
            biometric=p.id in biometric,
        )
        for p in people
    ]
    return rows, total


def find_people(session: so.Session, query: str, *, limit: int = 20) -> list[tuple[int, str]]:
    """(id, name) of people whose name contains the text, any case, first ``limit`` by name.

    The text is matched literally: % and _ typed by someone are not wildcards.
    """
    text = query.strip()[:200]
    if not text:
        return []
    rows = session.execute(
        sa.select(Person.id, Person.name)
        .where(
            Person.erased_at.is_(None),
            sa.func.lower(Person.name).contains(text.lower(), autoescape=True),
        )
        .order_by(sa.func.lower(Person.name), Person.id)
        .limit(max(1, limit))
    )
    return [(row.id, row.name) for row in rows]


def reference_count(session: so.Session, person: Person) -> int:
    """How many reference faces are enrolled, counted in SQL without loading the templates."""
    return (
        session.scalar(
            sa.select(sa.func.count(ReferenceFace.id)).where(ReferenceFace.person_id == person.id)
        )
        or 0
    )


def consent_state(record: ConsentRecord, at: datetime | None = None) -> str:
    """Say where a consent record stands: active, expired, withdrawn or partly withdrawn."""
    at = at or utcnow()
    if record.expires_at is not None and record.expires_at <= at:
        return "expired"
    withdrawn = [c for c in record.channels if c.withdrawn_at is not None]
    if record.channels and len(withdrawn) == len(record.channels):
        return "withdrawn"
    if withdrawn:
        return "partly_withdrawn"
    return "active"


def confirmed_photos(session: so.Session, person: Person) -> list[Photo]:
    """Photos in which a face has been confirmed as this person, newest first."""
    return list(
        session.scalars(
            sa.select(Photo)
            .where(
                Photo.id.in_(
                    sa.select(Face.photo_id).where(
                        Face.person_id == person.id, Face.state == "confirmed"
                    )
                )
            )
            .order_by(Photo.uploaded_at.desc(), Photo.id.desc())
        )
    )


def publications_showing(session: so.Session, person: Person) -> list[Publication]:
    return list(
        session.scalars(
            sa.select(Publication)
            .where(
                Publication.id.in_(
                    sa.select(PublicationFace.publication_id).where(
                        PublicationFace.person_id == person.id
                    )
                )
            )
            .order_by(Publication.published_at.desc())
        )
    )


def open_removal_tasks(session: so.Session, person: Person) -> list[RemovalTask]:
    return list(
        session.scalars(
            sa.select(RemovalTask)
            .where(RemovalTask.person_id == person.id, RemovalTask.status == "open")
            .order_by(RemovalTask.due_at)
            # The page shows each task's publication: load them with the tasks, not one by one.
            .options(so.joinedload(RemovalTask.publication))
        )
    )


def consents_newest_first(session: so.Session, person: Person) -> list[ConsentRecord]:
    """The person's consent records, newest first, with what the page shows of each loaded in
    a fixed number of queries (channels, chosen photos, form version)."""
    return list(
        session.scalars(
            sa.select(ConsentRecord)
            .where(ConsentRecord.person_id == person.id)
            .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
            .options(
                so.selectinload(ConsentRecord.channels),
                so.selectinload(ConsentRecord.photos),
                so.joinedload(ConsentRecord.form_version),
            )
        )
    )


# --- Evidence ---------------------------------------------------------------------------------


def check_signature(data: bytes) -> None:
    """Refuse a drawn signature that is not a PNG, is an odd size, or is blank."""
    from PIL import Image

    from consentcam.faces.decode import ImageRejected, probe

    if not data:
        raise ConsentError(N_("the signature is empty: please sign in the box"))
    if len(data) > SIGNATURE_MAX_BYTES:
        raise ConsentError(N_("the signature image is too large"))
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ConsentError(N_("the signature is not a PNG image"))
    try:
        info = probe(data, max_pixels=SIGNATURE_MAX_SIDE * SIGNATURE_MAX_SIDE, name="signature")
    except ImageRejected as exc:
        raise ConsentError(
            N_("the signature image cannot be read (%(detail)s)"), detail=str(exc)
        ) from exc
    if info.format != "PNG":
        raise ConsentError(N_("the signature is not a PNG image"))
    if not (
        SIGNATURE_MIN_SIDE <= info.width <= SIGNATURE_MAX_SIDE
        and SIGNATURE_MIN_SIDE <= info.height <= SIGNATURE_MAX_SIDE
    ):
        raise ConsentError(
            N_(
                "the signature image is %(width)sx%(height)s pixels; "
                "expected between %(least)s and %(most)s on each side"
            ),
            width=info.width,
            height=info.height,
            least=SIGNATURE_MIN_SIDE,
            most=SIGNATURE_MAX_SIDE,
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgba = im.convert("RGBA")
    except Exception as exc:  # Pillow raises many types for damaged data
        raise ConsentError(
            N_("the signature image is damaged (%(detail)s)"), detail=str(exc)
        ) from exc
    # Strokes on a transparent or white pad: flatten on white and count the dark pixels.
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(white, rgba).convert("L")
    ink = sum(grey.histogram()[:160])
    if ink < SIGNATURE_MIN_INK:
        raise ConsentError(N_("the signature is blank: please sign in the box"))


def check_scan(data: bytes, mime: str) -> None:
    """Refuse a scan of the paper form whose content is not the PDF, JPEG or PNG it claims."""
    from consentcam.faces.decode import ImageRejected, probe

    if mime not in EVIDENCE_TYPES:
        raise ConsentError(N_("the scan must be a PDF, JPEG or PNG file"))
    if not data:
        raise ConsentError(N_("the scan file is empty"))
    if len(data) > EVIDENCE_MAX_BYTES:
        raise ConsentError(
            N_("the scan is larger than %(mb)s MB; scan it at a lower resolution"),
            mb=EVIDENCE_MAX_BYTES // (1024 * 1024),
        )
    if mime == "application/pdf":
        if not data.startswith(b"%PDF-"):
            raise ConsentError(N_("the file is not a PDF"))
        return
    try:
        info = probe(data, name="scan")
    except ImageRejected as exc:
        raise ConsentError(
            N_("the scan cannot be read as an image (%(detail)s)"), detail=str(exc)
        ) from exc
    expected = "PNG" if mime == "image/png" else "JPEG"
    if info.format != expected:
        raise ConsentError(
            N_("the scan is a %(format)s image, not %(expected)s"),
            format=info.format,
            expected=expected,
        )


def sniff_scan_mime(data: bytes) -> str | None:
    """Name the type of an uploaded scan from its first bytes (the browser's claim is not trusted)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def read_evidence(rt: Runtime, record: ConsentRecord) -> bytes:
    """Decrypt a consent's evidence and prove it is the file that was given."""
    if not record.evidence_key:
        raise FileNotFoundError(f"consent {record.id} has no evidence file")
    data = rt.vault.decrypt(rt.storage.read(record.evidence_key))
    if hashlib.sha256(data).hexdigest() != record.evidence_sha256:
        raise EvidenceTampered(
            f"evidence of consent {record.id} does not match its recorded SHA-256 "
            f"{record.evidence_sha256}: the stored file was changed or damaged"
        )
    return data


# --- Reference photos, enrolled in the background ------------------------------------------------

REFERENCE_MAX_BYTES = 30 * 1024 * 1024


def queue_reference(
    session: so.Session,
    rt: Runtime,
    person: Person,
    image: bytes,
    name: str,
    *,
    actor: User | None = None,
) -> ReferenceUpload:
    """Store a reference photo encrypted and note it for enrolment; refused without biometric consent."""
    from consentcam.faces.decode import ImageRejected, probe

    require_biometric_consent(session, person)
    if len(image) > REFERENCE_MAX_BYTES:
        raise ConsentError(N_("the reference photo is too large"))
    try:
        probe(image, max_pixels=rt.settings["MAX_PIXELS"], name=name)
    except ImageRejected as exc:
        raise ConsentError(exc.template, **exc.params) from exc
    kept = _clean_reference(rt, image, name)
    key, _ = rt.storage.put("references", rt.vault.encrypt(kept), "bin")
    upload = ReferenceUpload(
        person_id=person.id,
        original_name=(name or "reference")[:300],
        source_key=key,
        source_sha256=hashlib.sha256(kept).hexdigest(),
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
    return upload


def enrol_upload(session: so.Session, rt: Runtime, upload_id: int) -> ReferenceUpload | None:
    """Enrol a queued reference photo (runs in the worker); failures are recorded on the upload."""
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.engine import EngineUnavailable

    upload = session.get(ReferenceUpload, upload_id)
    if upload is None or upload.state != "pending":
        return upload
    person = session.get(Person, upload.person_id)
    assert person is not None  # the upload row cascades with its person

    def fail(message: str) -> ReferenceUpload:
        # Without a template the image has no purpose left; do not keep biometric source data.
        rt.storage.delete(upload.source_key)
        upload.source_key = None
        upload.state = UploadState.FAILED
        upload.error = message
        upload.finished_at = utcnow()
        events.record(
            session,
            "reference.failed",
            f"person:{person.id}",
            {"upload": upload.id, "error": message},
            actor="enrolment",
        )
        return upload

    if not has_biometric_consent(session, person):
        return fail(
            f"{person.name} has no active biometric consent: the reference photo was deleted"
        )
    if not upload.source_key or not rt.storage.exists(upload.source_key):
        return fail("the stored reference photo is missing")
    image = rt.vault.decrypt(rt.storage.read(upload.source_key))
    try:
        ref = enrol_reference(
            session, rt, person, image, upload.original_name, stored_key=upload.source_key
        )
    except (ConsentError, ImageRejected, EngineUnavailable) as exc:
        return fail(str(exc))
    upload.state = UploadState.DONE
    upload.reference_face_id = ref.id
    upload.finished_at = utcnow()
    return upload
