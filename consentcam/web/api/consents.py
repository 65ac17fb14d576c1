"""API: a person's consent records (list, record a signed consent with its evidence, read one)."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from consentcam.domain.vocabulary import EVIDENCE_EXTENSIONS, iso
from consentcam.models import ConsentRecord, Person
from consentcam.services import listings
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    CHANNELS,
    MAX_ID,
    Closed,
    Shape,
    array,
    base64_bytes,
    boolean,
    channels,
    integer,
    moment,
    nested,
    text,
    when,
)
from consentcam.web.api.people import person_or_404

EVIDENCE_KINDS = ["signature", "scan"]


class ConsentChannel(Shape):
    channel = text(required=True, choices=CHANNELS)
    withdrawn_at = moment(required=True, nullable=True)


class ConsentForm(Shape):
    language = text(required=True)
    version = integer(required=True)
    sha256 = text(required=True)


class ConsentSchema(Shape):
    id = integer(required=True)
    person_id = integer(required=True)
    state = text(required=True, choices=["active", "expired", "withdrawn", "partly_withdrawn"])
    channels = array(nested(ConsentChannel), required=True)
    scope = text(required=True, choices=["all", "listed"])
    photo_ids = array(integer(), required=True)
    given_at = moment(required=True)
    expires_at = moment(required=True, nullable=True)
    signer_name = text(required=True)
    signed_by_guardian = boolean(required=True)
    biometric = boolean(required=True)
    biometric_withdrawn_at = moment(required=True, nullable=True)
    evidence_kind = text(required=True, nullable=True, choices=EVIDENCE_KINDS)
    evidence_mime = text(required=True, nullable=True)
    evidence_sha256 = text(required=True, nullable=True)
    form = nested(ConsentForm, required=True, nullable=True)


class ConsentListSchema(Shape):
    consents = array(nested(ConsentSchema), required=True)


class ConsentNewSchema(Closed):
    channels = channels(default=[], unique=True)
    scope = text(choices=["all", "listed"], default="all")
    photo_ids = array(integer(minimum=1, maximum=MAX_ID), default=[])
    expires_at = when(nullable=True, description="With a time zone, after now")
    biometric = boolean(default=False)
    guardian_name = text(max_length=200, nullable=True, description="Required for a minor")
    signer_name = text(max_length=200, nullable=True)
    language = text(choices=["en", "sv"], default="en")
    evidence = base64_bytes(required=True, description="Base64 of the PNG signature or the scan")
    evidence_mime = text(required=True, choices=list(EVIDENCE_EXTENSIONS))
    evidence_kind = text(required=True, choices=EVIDENCE_KINDS)
    note = text(max_length=2000, nullable=True)


def consent_json(record: ConsentRecord) -> dict[str, Any]:
    form = record.form_version
    return {
        "id": record.id,
        "person_id": record.person_id,
        "state": people_service.consent_state(record),
        "channels": [
            {"channel": c.channel, "withdrawn_at": iso(c.withdrawn_at)}
            for c in sorted(record.channels, key=lambda ch: ch.channel)
        ],
        "scope": record.scope,
        "photo_ids": sorted(p.photo_id for p in record.photos),
        "given_at": iso(record.given_at),
        "expires_at": iso(record.expires_at),
        "signer_name": record.signer_name,
        "signed_by_guardian": record.signed_by_guardian,
        "biometric": record.biometric,
        "biometric_withdrawn_at": iso(record.biometric_withdrawn_at),
        "evidence_kind": record.evidence_kind,
        "evidence_mime": record.evidence_mime,
        "evidence_sha256": record.evidence_sha256,
        "form": {"language": form.language, "version": form.version, "sha256": form.sha256}
        if form
        else None,
    }


@bp.endpoint("GET", "/people/<int:person_id>/consents", tag="consent", response=ConsentListSchema)
def list_consents(person_id: int) -> Any:
    """A person's consent records"""
    person = person_or_404(person_id)
    return jsonify({"consents": [consent_json(c) for c in person.consents]})


def _check_evidence(body: dict[str, Any]) -> None:
    """The evidence is what it claims to be: a PNG signature with ink, or a readable scan."""
    kind, mime, evidence = body["evidence_kind"], body["evidence_mime"], body["evidence"]
    if kind == "signature":
        if mime != "image/png":
            raise ConsentError("a signature must be a PNG image (evidence_mime image/png)")
        people_service.check_signature(evidence)
    else:
        people_service.check_scan(evidence, mime)


def _record(session: Any, person: Person, body: dict[str, Any]) -> ConsentRecord:
    """Check what the service leaves to its callers, then record the consent."""
    _check_evidence(body)
    photo_ids = sorted(set(body["photo_ids"]))
    missing = listings.missing_photos(session, photo_ids)
    if missing:
        raise ConsentError(f"no such photo(s): {', '.join(map(str, missing))}")
    guardian = people_service.guardian_signer(person.is_minor, body.get("guardian_name"))
    return people_service.give_consent(
        session,
        runtime(),
        person,
        channels=body["channels"],
        evidence=body["evidence"],
        evidence_mime=body["evidence_mime"],
        evidence_kind=body["evidence_kind"],
        signer_name=guardian or body.get("signer_name") or person.name,
        guardian=guardian is not None,
        scope=body["scope"],
        photo_ids=photo_ids if body["scope"] == "listed" else [],
        expires_at=body.get("expires_at"),
        biometric=body["biometric"],
        language=body["language"],
        actor=api_user(),
        note=body.get("note"),
    )


@bp.endpoint(
    "POST",
    "/people/<int:person_id>/consents",
    tag="consent",
    body=ConsentNewSchema,
    response=ConsentSchema,
    status=201,
)
def give_consent(body: dict[str, Any], person_id: int) -> Any:
    """Record a signed consent with its evidence"""
    person = person_or_404(person_id)
    try:
        with transaction() as session:
            record = _record(session, person, body)
    except ConsentError as exc:
        abort(422, description=str(exc))
    return jsonify(consent_json(record)), 201


@bp.endpoint("GET", "/consents/<int:consent_id>", tag="consent", response=ConsentSchema)
def get_consent(consent_id: int) -> Any:
    """One consent record"""
    record = found(listings.consent(db(), consent_id), f"no such consent record {consent_id}")
    return jsonify(consent_json(record))
