"""Recording a signed consent: the rules every way in (owner's form, API, link, command line) shares."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain import vocabulary
from consentcam.domain.types import Channel, Scope
from consentcam.models import (
    ConsentChannel,
    ConsentFormVersion,
    ConsentPhoto,
    ConsentRecord,
    Person,
    Photo,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.people.errors import ConsentAlreadyRecorded, ConsentError
from consentcam.services.people.evidence import EVIDENCE_TYPES, evidence_from_form, store_evidence
from consentcam.services.people.forms import (
    check_form_unchanged,
    current_form,
    shown_form,
)
from consentcam.services.people.registry import mark_minor
from consentcam.wording import N_


def parse_channels(values: Iterable[str]) -> list[Channel]:
    return list(vocabulary.parse_channels(values, ConsentError))


def guardian_signer(minor: bool, guardian_name: str | None) -> str | None:
    """The guardian who signs, by name; refused for a minor whose guardian is not named.

    The one guardian rule: a minor's consent is signed by a guardian. Returns the trimmed name
    when one is given (for anyone), None when none is given and the person is of age.
    """
    guardian = (guardian_name or "").strip()
    if minor and not guardian:
        raise ConsentError(
            N_("A minor's consent is signed by a guardian: enter the guardian's name.")
        )
    return guardian or None


@dataclass(frozen=True)
class _Terms:
    """What a consent covers, checked: its channels, scope and chosen photos."""

    channels: list[Channel]
    scope: Scope
    photos: list[int]


def _chosen_channels(channels: Iterable[str], biometric: bool) -> list[Channel]:
    chosen = parse_channels(channels)
    if not chosen and not biometric:
        raise ConsentError(N_("choose at least one channel, or biometric recognition"))
    return chosen


def _consent_terms(chosen: list[Channel], scope: str, photo_ids: Iterable[int]) -> _Terms:
    try:
        scope_value = Scope(scope)
    except ValueError as exc:
        raise ConsentError(N_("scope must be 'all' or 'listed'")) from exc
    photo_list = sorted(set(photo_ids))
    if scope_value is Scope.LISTED and not photo_list:
        raise ConsentError(N_("a consent for chosen photos must list at least one photo"))
    return _Terms(chosen, scope_value, photo_list)


def _check_evidence(evidence: bytes, mime: str, kind: str) -> None:
    if kind not in ("signature", "scan"):
        raise ConsentError(
            N_("evidence must be an on-screen signature or a scan of the signed form")
        )
    if mime not in EVIDENCE_TYPES:
        raise ConsentError(N_("evidence must be a PNG, JPEG or PDF file"))
    if not evidence:
        raise ConsentError(N_("the evidence file is empty"))


def _signed_form(
    session: so.Session, rt: Runtime, language: str, form_sha256: str | None
) -> ConsentFormVersion:
    # The version the person was shown when named, else today's.
    form = shown_form(session, language, form_sha256) if form_sha256 else None
    return form or current_form(session, rt, language)


def _record_given(
    session: so.Session,
    record: ConsentRecord,
    terms: _Terms,
    form: ConsentFormVersion,
    actor: User | None,
) -> None:
    events.record(
        session,
        "consent.given",
        f"person:{record.person.id}",
        {
            "consent": record.id,
            "channels": [c.value for c in terms.channels],
            "scope": terms.scope.value,
            "photos": terms.photos,
            "expires_at": record.expires_at,
            "biometric": record.biometric,
            "evidence_sha256": record.evidence_sha256,
            "form": f"{form.language}-v{form.version}",
            "guardian": record.signed_by_guardian,
        },
        actor=_actor(actor),
    )


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
    chosen = _chosen_channels(channels, biometric)
    _check_evidence(evidence, evidence_mime, evidence_kind)
    terms = _consent_terms(chosen, scope, photo_ids)
    guardian_signer(person.is_minor, signer_name if guardian else None)
    given = given_at or utcnow()
    if expires_at is not None and expires_at <= given:
        raise ConsentError(N_("the expiry date must be after the date the consent is given"))
    _refuse_evidence_recorded_before(session, person, evidence)
    key, digest = store_evidence(rt, evidence)
    form = _signed_form(session, rt, language, form_sha256)
    record = ConsentRecord(
        person=person,
        scope=terms.scope.value,
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
    record.channels = [ConsentChannel(channel=c.value) for c in terms.channels]
    record.photos = [ConsentPhoto(photo_id=pid) for pid in terms.photos]
    session.add(record)
    person.last_activity_at = given
    session.flush()
    _record_given(session, record, terms, form, actor)
    return record


# --- The owner's consent form -------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentAnswers:
    """The owner's consent form as the page read it; `record_consent_form` checks the rules."""

    language: str
    channels: Sequence[str] = ()
    scope: str = "all"  # "all" | "listed"
    photo_ids: Sequence[int] = ()
    evidence_kind: str = "signature"  # "signature" (drawn on the pad) | "scan"
    signature: str = ""  # the pad's drawing, a PNG data URL
    scan: bytes = b""
    minor: bool = False
    guardian_name: str = ""
    signer_name: str = ""
    expires_at: datetime | None = None
    biometric: bool = False
    note: str | None = None
    form_sha256: str | None = None  # the form text the page showed


def listed_photos(session: so.Session, scope: str, photo_ids: Iterable[int]) -> list[int]:
    """The photos a consent for chosen photos covers (none for "all"); each must exist."""
    if scope != Scope.LISTED.value:
        return []
    wanted = sorted(set(photo_ids))
    if not wanted:
        return []
    known = set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(wanted))))
    if set(wanted) - known:
        raise ConsentError(N_("Some of the chosen photos do not exist."))
    return wanted


def _refuse_evidence_recorded_before(session: so.Session, person: Person, evidence: bytes) -> None:
    """The same signature or scan sent again for the same person is not a second consent."""
    if person.id is None:
        return
    earlier = session.scalar(
        sa.select(ConsentRecord.id)
        .where(
            ConsentRecord.person_id == person.id,
            ConsentRecord.evidence_sha256 == hashlib.sha256(evidence).hexdigest(),
        )
        .limit(1)
    )
    if earlier is not None:
        raise ConsentAlreadyRecorded(earlier)


def record_consent_form(
    session: so.Session,
    rt: Runtime,
    person: Person,
    answers: ConsentAnswers,
    *,
    actor: User | None = None,
) -> ConsentRecord:
    """Record the consent the owner's form gives: the form text, guardian, photos and evidence.

    Refused (ConsentError) when the form text changed since the page showed it, a minor's
    guardian is not named, the evidence is not a real signature or scan, or a chosen photo
    does not exist. Ticking "minor" marks the person as a minor.
    """
    version = current_form(session, rt, answers.language)
    check_form_unchanged(version, answers.form_sha256)
    guardian = guardian_signer(answers.minor, answers.guardian_name if answers.minor else None)
    evidence = evidence_from_form(
        answers.evidence_kind, signature=answers.signature, scan=answers.scan
    )
    photo_ids = listed_photos(session, answers.scope, answers.photo_ids)
    if answers.minor:
        mark_minor(session, person, actor=actor)
    return give_consent(
        session,
        rt,
        person,
        channels=answers.channels,
        evidence=evidence.data,
        evidence_mime=evidence.mime,
        evidence_kind=evidence.kind,
        signer_name=guardian if answers.minor else (answers.signer_name or person.name),
        guardian=answers.minor,
        scope=answers.scope,
        photo_ids=photo_ids,
        expires_at=answers.expires_at,
        biometric=answers.biometric,
        language=answers.language,
        actor=actor,
        note=answers.note or None,
        form_sha256=version.sha256,
    )


# --- Where a consent stands ---------------------------------------------------------------------


def has_biometric_consent(session: so.Session, person: Person, at: datetime | None = None) -> bool:
    return biometric_among(person.consents, at)


def biometric_among(consents: Iterable[ConsentRecord], at: datetime | None = None) -> bool:
    """Whether one of these consents allows face templates at ``at`` (now)."""
    at = at or utcnow()
    return any(
        c.biometric
        and c.biometric_withdrawn_at is None
        and c.given_at <= at
        and (c.expires_at is None or at < c.expires_at)
        for c in consents
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


def anything_to_withdraw(consents: Iterable[ConsentRecord], at: datetime | None = None) -> bool:
    """True while some consent in force still has a channel or face recognition to withdraw."""
    at = at or utcnow()
    return any(
        (
            any(ch.withdrawn_at is None for ch in c.channels)
            or (c.biometric and c.biometric_withdrawn_at is None)
        )
        and (c.expires_at is None or c.expires_at > at)
        for c in consents
    )
