"""People and their consent: add a person, record a signed consent, enrol reference faces."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from importlib import resources

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import Channel, Scope
from consentcam.models import (
    ConsentChannel,
    ConsentFormVersion,
    ConsentPhoto,
    ConsentRecord,
    Person,
    ReferenceFace,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.scanning import scan_settings, template_bytes

EVIDENCE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}
LANGUAGES = ("en", "sv")


class ConsentError(ValueError):
    """A consent request that cannot be recorded as asked; the message says why."""


def form_template(language: str) -> str:
    if language not in LANGUAGES:
        raise ConsentError(
            f"no consent form in language {language!r} (have: {', '.join(LANGUAGES)})"
        )
    return (
        resources.files("consentcam")
        .joinpath("forms", f"consent_{language}.txt")
        .read_text("utf-8")
    )


def form_text(rt: Runtime, language: str) -> str:
    """The consent form exactly as the business prints it, with its own details filled in."""
    s = rt.settings
    return form_template(language).format(
        business=s.get("BUSINESS_NAME") or "the business",
        removal_days=s["REMOVAL_DUE_DAYS"],
        retention=s["RETENTION"],
        responsible=s.get("RESPONSIBLE_PERSON") or "the owner",
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
    name = name.strip()
    if not name:
        raise ConsentError("a person needs a name")
    person = Person(
        name=name, email=email or None, phone=phone or None, is_minor=is_minor, note=note or None
    )
    session.add(person)
    session.flush()
    events.record(
        session, "person.added", f"person:{person.id}", {"name": name}, actor=_actor(actor)
    )
    return person


def parse_channels(values: Iterable[str]) -> list[Channel]:
    out: list[Channel] = []
    for raw in values:
        for part in str(raw).replace(",", " ").split():
            try:
                channel = Channel(part.strip().lower())
            except ValueError as exc:
                allowed = ", ".join(c.value for c in Channel)
                raise ConsentError(f"unknown channel {part!r} (use {allowed})") from exc
            if channel not in out:
                out.append(channel)
    return out


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
) -> ConsentRecord:
    """Record a signed consent with its evidence file (stored encrypted, with its SHA-256)."""
    chosen = parse_channels(channels)
    if not chosen and not biometric:
        raise ConsentError("choose at least one channel, or biometric recognition")
    if evidence_kind not in ("signature", "scan"):
        raise ConsentError("evidence must be an on-screen signature or a scan of the signed form")
    if evidence_mime not in EVIDENCE_TYPES:
        raise ConsentError("evidence must be a PNG, JPEG or PDF file")
    if not evidence:
        raise ConsentError("the evidence file is empty")
    try:
        scope_value = Scope(scope)
    except ValueError as exc:
        raise ConsentError("scope must be 'all' or 'listed'") from exc
    photo_list = sorted(set(photo_ids))
    if scope_value is Scope.LISTED and not photo_list:
        raise ConsentError("a consent for chosen photos must list at least one photo")
    if person.is_minor and not guardian:
        raise ConsentError(f"{person.name} is a minor: a guardian must sign")
    given = given_at or utcnow()
    if expires_at is not None and expires_at <= given:
        raise ConsentError("the expiry date must be after the date the consent is given")
    digest = hashlib.sha256(evidence).hexdigest()
    key, _ = rt.storage.put("evidence", rt.vault.encrypt(evidence), "bin")
    form = current_form(session, rt, language)
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


def enrol_reference(
    session: so.Session,
    rt: Runtime,
    person: Person,
    image: bytes,
    name: str,
    *,
    actor: User | None = None,
) -> ReferenceFace:
    """Enrol the single face of a reference photo; refused without active biometric consent."""
    from consentcam.faces.pipeline import scan_image

    if not has_biometric_consent(session, person):
        raise ConsentError(
            f"{person.name} has not given biometric consent: reference photos for automatic "
            "recognition need it (faces can still be tagged by hand)"
        )
    result = scan_image(image, scan_settings(rt), name=name)
    if len(result.faces) != 1:
        raise ConsentError(
            f"{name}: a reference photo must show exactly one face; this one shows {len(result.faces)}"
        )
    digest = hashlib.sha256(image).hexdigest()
    key, _ = rt.storage.put("references", rt.vault.encrypt(image), "bin")
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


def _actor(user: User | None) -> str | None:
    return user.email if user else None
