"""API: people and their consent records (give consent with evidence; withdrawal lives elsewhere)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, jsonify, request

from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import iso
from consentcam.models import ConsentRecord, Person, Photo, utcnow
from consentcam.security import parse_int
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, json_body, require_owner, schema

MAX_ID = 2**31 - 1
CHANNELS = [c.value for c in Channel]
NULLABLE_STRING = {"type": "string", "nullable": True}
DATE_TIME = {"type": "string", "format": "date-time"}

PERSON = schema(
    "Person",
    {
        "type": "object",
        "required": [
            "id",
            "name",
            "email",
            "phone",
            "is_minor",
            "note",
            "created_at",
            "consent_count",
            "active_channels",
            "photo_count",
            "biometric",
        ],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": NULLABLE_STRING,
            "phone": NULLABLE_STRING,
            "is_minor": {"type": "boolean"},
            "note": NULLABLE_STRING,
            "created_at": DATE_TIME,
            "consent_count": {"type": "integer"},
            "active_channels": {"type": "integer", "description": "Channels with active consent"},
            "photo_count": {"type": "integer", "description": "Photos with a confirmed face"},
            "biometric": {"type": "boolean", "description": "Active biometric consent"},
        },
    },
)
PERSON_LIST = schema(
    "PersonList",
    {
        "type": "object",
        "required": ["people", "total", "page", "per_page"],
        "properties": {
            "people": {"type": "array", "items": PERSON},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    },
)
PERSON_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
    "email": {"type": "string", "format": "email", "maxLength": 254, "nullable": True},
    "phone": {"type": "string", "maxLength": 40, "nullable": True},
    "is_minor": {"type": "boolean"},
    "note": {"type": "string", "maxLength": 2000, "nullable": True},
}
PERSON_NEW_DEF = {
    "type": "object",
    "required": ["name"],
    "properties": PERSON_FIELDS,
    "additionalProperties": False,
}
PERSON_NEW = schema("PersonNew", PERSON_NEW_DEF)
PERSON_PATCH_DEF = {"type": "object", "properties": PERSON_FIELDS, "additionalProperties": False}
PERSON_PATCH = schema("PersonPatch", PERSON_PATCH_DEF)
CONSENT = schema(
    "Consent",
    {
        "type": "object",
        "required": [
            "id",
            "person_id",
            "state",
            "channels",
            "scope",
            "photo_ids",
            "given_at",
            "expires_at",
            "signer_name",
            "signed_by_guardian",
            "biometric",
            "biometric_withdrawn_at",
            "evidence_kind",
            "evidence_mime",
            "evidence_sha256",
            "form",
        ],
        "properties": {
            "id": {"type": "integer"},
            "person_id": {"type": "integer"},
            "state": {
                "type": "string",
                "enum": ["active", "expired", "withdrawn", "partly_withdrawn"],
            },
            "channels": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["channel", "withdrawn_at"],
                    "properties": {
                        "channel": {"type": "string", "enum": CHANNELS},
                        "withdrawn_at": {**DATE_TIME, "nullable": True},
                    },
                },
            },
            "scope": {"type": "string", "enum": ["all", "listed"]},
            "photo_ids": {"type": "array", "items": {"type": "integer"}},
            "given_at": DATE_TIME,
            "expires_at": {**DATE_TIME, "nullable": True},
            "signer_name": {"type": "string"},
            "signed_by_guardian": {"type": "boolean"},
            "biometric": {"type": "boolean"},
            "biometric_withdrawn_at": {**DATE_TIME, "nullable": True},
            "evidence_kind": {"type": "string", "enum": ["signature", "scan"], "nullable": True},
            "evidence_mime": NULLABLE_STRING,
            "evidence_sha256": NULLABLE_STRING,
            "form": {
                "type": "object",
                "nullable": True,
                "required": ["language", "version", "sha256"],
                "properties": {
                    "language": {"type": "string"},
                    "version": {"type": "integer"},
                    "sha256": {"type": "string"},
                },
            },
        },
    },
)
CONSENT_LIST = schema(
    "ConsentList",
    {
        "type": "object",
        "required": ["consents"],
        "properties": {"consents": {"type": "array", "items": CONSENT}},
    },
)
CONSENT_NEW_DEF: dict[str, Any] = {
    "type": "object",
    "required": ["evidence", "evidence_mime", "evidence_kind"],
    "properties": {
        "channels": {
            "type": "array",
            "items": {"type": "string", "enum": CHANNELS},
            "uniqueItems": True,
            "default": [],
        },
        "scope": {"type": "string", "enum": ["all", "listed"], "default": "all"},
        "photo_ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "default": [],
        },
        "expires_at": {**DATE_TIME, "nullable": True, "description": "With a time zone, after now"},
        "biometric": {"type": "boolean", "default": False},
        "guardian_name": {
            "type": "string",
            "maxLength": 200,
            "nullable": True,
            "description": "Required for a minor",
        },
        "signer_name": {"type": "string", "maxLength": 200, "nullable": True},
        "language": {"type": "string", "enum": ["en", "sv"], "default": "en"},
        "evidence": {
            "type": "string",
            "format": "byte",
            "description": "Base64 of the PNG signature or the scan",
        },
        "evidence_mime": {"type": "string", "enum": ["image/png", "image/jpeg", "application/pdf"]},
        "evidence_kind": {"type": "string", "enum": ["signature", "scan"]},
        "note": {"type": "string", "maxLength": 2000, "nullable": True},
    },
    "additionalProperties": False,
}
CONSENT_NEW = schema("ConsentNew", CONSENT_NEW_DEF)


def get_or_404(model: Any, ident: int) -> Any:
    # Ids beyond the integer column's range would overflow the driver instead of missing.
    obj = db().get(model, ident) if 0 < ident <= MAX_ID else None
    if obj is None or getattr(obj, "erased_at", None) is not None:
        abort(404, description=f"no such {model.__tablename__.replace('_', ' ')} {ident}")
    return obj


def check_fields(body: dict[str, Any], spec: dict[str, Any]) -> None:
    """Refuse unknown keys and values of the wrong type with a 422 that names the field."""
    props = spec["properties"]
    unknown = sorted(set(body) - set(props))
    if unknown:
        abort(422, description=f"unknown field(s): {', '.join(unknown)}")
    for key in spec.get("required", []):
        if key not in body:
            abort(422, description=f"{key} is required")
    for key, value in body.items():
        rule = props[key]
        if value is None:
            if not rule.get("nullable"):
                abort(422, description=f"{key} may not be null")
            continue
        kind = rule.get("type")
        ok = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "array": isinstance(value, list),
        }.get(kind, True)
        if not ok:
            abort(
                422,
                description=f"{key} must be a{'n' if kind in ('integer', 'array') else ''} {kind}",
            )
        if kind == "string":
            if "maxLength" in rule and len(value) > rule["maxLength"]:
                abort(422, description=f"{key} is longer than {rule['maxLength']} characters")
            if "enum" in rule and value not in rule["enum"]:
                abort(422, description=f"{key} must be one of {', '.join(rule['enum'])}")
        if kind == "array":
            item = rule.get("items", {})
            for element in value:
                if item.get("type") == "integer" and not (
                    isinstance(element, int)
                    and not isinstance(element, bool)
                    and item.get("minimum", -(2**63)) <= element <= item.get("maximum", 2**63)
                ):
                    abort(
                        422,
                        description=f"{key} must list integers between {item.get('minimum')} and {item.get('maximum')}",
                    )
                if item.get("type") == "string" and (
                    not isinstance(element, str) or ("enum" in item and element not in item["enum"])
                ):
                    abort(
                        422,
                        description=f"{key} must list values from {', '.join(item.get('enum', []))}",
                    )


def parse_datetime(key: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        abort(422, description=f"{key} must be an ISO 8601 date-time with a time zone")
    if parsed.tzinfo is None:
        abort(422, description=f"{key} needs a time zone (e.g. 2026-05-31T00:00:00Z)")
    return parsed


def person_json(person: Person, row: people_service.PersonRow | None = None) -> dict[str, Any]:
    if row is None:
        row = _row_for(person)
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "phone": person.phone,
        "is_minor": person.is_minor,
        "note": person.note,
        "created_at": iso(person.created_at),
        "consent_count": row.consents,
        "active_channels": row.active_channels,
        "photo_count": row.photos,
        "biometric": row.biometric,
    }


def _row_for(person: Person) -> people_service.PersonRow:
    session = db()
    now = utcnow()
    active = {
        ch.channel
        for c in person.consents
        if c.given_at <= now and (c.expires_at is None or c.expires_at > now)
        for ch in c.channels
        if ch.withdrawn_at is None
    }
    photos = len(people_service.confirmed_photos(session, person))
    return people_service.PersonRow(
        person=person,
        consents=len(person.consents),
        active_channels=len(active),
        photos=photos,
        biometric=people_service.has_biometric_consent(session, person),
    )


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


QUERY_PARAMS = [
    {
        "name": "q",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "Part of a name or e-mail",
    },
    {
        "name": "page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
]


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = parse_int(raw, low, high)
    if value is None:
        abort(400, description=f"{name} must be an integer from {low} to {high}")
    return value


@bp.get("/people")
@documented(
    "/people",
    "GET",
    "List people (search by name or e-mail)",
    tag="people",
    response=PERSON_LIST,
    parameters=QUERY_PARAMS,
)
def list_people() -> Any:
    query = request.args.get("q", "")
    if len(query) > 200:
        abort(400, description="q is longer than 200 characters")
    page = _int_arg("page", 1, 1, 100000)
    per_page = _int_arg("per_page", 50, 1, 200)
    rows, total = people_service.search_people(db(), query, page=page, per_page=per_page)
    return jsonify(
        {
            "people": [person_json(r.person, r) for r in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


def _person_values(body: dict[str, Any]) -> dict[str, Any]:
    for key in ("email",):
        value = body.get(key)
        if value and ("@" not in value or value.startswith("@") or value.endswith("@")):
            abort(422, description="email is not an e-mail address")
    if "name" in body and not str(body["name"]).strip():
        abort(422, description="name may not be blank")
    return body


@bp.post("/people")
@documented(
    "/people",
    "POST",
    "Add a person",
    tag="people",
    response=PERSON,
    status=201,
    body=PERSON_NEW,
    owner_only=True,
)
def create_person() -> Any:
    require_owner()
    body = json_body()
    check_fields(body, PERSON_NEW_DEF)
    values = _person_values(body)
    try:
        person = people_service.add_person(
            db(),
            values["name"],
            email=values.get("email"),
            phone=values.get("phone"),
            is_minor=bool(values.get("is_minor", False)),
            note=values.get("note"),
            actor=api_user(),
        )
    except ConsentError as exc:
        abort(422, description=str(exc))
    db().commit()
    return jsonify(person_json(person)), 201


@bp.get("/people/<int:person_id>")
@documented("/people/{person_id}", "GET", "One person", tag="people", response=PERSON)
def get_person(person_id: int) -> Any:
    return jsonify(person_json(get_or_404(Person, person_id)))


@bp.patch("/people/<int:person_id>")
@documented(
    "/people/{person_id}",
    "PATCH",
    "Change a person's details",
    tag="people",
    response=PERSON,
    body=PERSON_PATCH,
    owner_only=True,
)
def update_person(person_id: int) -> Any:
    require_owner()
    person = get_or_404(Person, person_id)
    body = json_body()
    check_fields(body, PERSON_PATCH_DEF)
    values = _person_values(body)
    try:
        people_service.update_person(
            db(),
            person,
            name=values.get("name", person.name),
            email=values.get("email", person.email),
            phone=values.get("phone", person.phone),
            is_minor=values.get("is_minor", person.is_minor),
            note=values.get("note", person.note),
            actor=api_user(),
        )
    except ConsentError as exc:
        abort(422, description=str(exc))
    db().commit()
    return jsonify(person_json(person))


@bp.get("/people/<int:person_id>/consents")
@documented(
    "/people/{person_id}/consents",
    "GET",
    "A person's consent records",
    tag="consent",
    response=CONSENT_LIST,
)
def list_consents(person_id: int) -> Any:
    person = get_or_404(Person, person_id)
    if person.erased_at is not None:
        abort(404, description="this person was erased")
    return jsonify({"consents": [consent_json(c) for c in person.consents]})


@bp.post("/people/<int:person_id>/consents")
@documented(
    "/people/{person_id}/consents",
    "POST",
    "Record a signed consent with its evidence",
    tag="consent",
    response=CONSENT,
    status=201,
    body=CONSENT_NEW,
    owner_only=True,
)
def give_consent(person_id: int) -> Any:
    require_owner()
    person = get_or_404(Person, person_id)
    body = json_body()
    check_fields(body, CONSENT_NEW_DEF)
    session = db()
    try:
        evidence = base64.b64decode(body["evidence"], validate=True)
    except (binascii.Error, ValueError):
        abort(422, description="evidence must be base64")
    kind, mime = body["evidence_kind"], body["evidence_mime"]
    expires_at = parse_datetime("expires_at", body.get("expires_at"))
    guardian = (body.get("guardian_name") or "").strip()
    photo_ids = sorted(set(body.get("photo_ids") or []))
    try:
        if kind == "signature":
            if mime != "image/png":
                raise ConsentError("a signature must be a PNG image (evidence_mime image/png)")
            people_service.check_signature(evidence)
        else:
            people_service.check_scan(evidence, mime)
        if photo_ids:
            known = set(session.scalars(sa.select(Photo.id).where(Photo.id.in_(photo_ids))))
            missing = sorted(set(photo_ids) - known)
            if missing:
                raise ConsentError(f"no such photo(s): {', '.join(map(str, missing))}")
        if person.is_minor and not guardian:
            raise ConsentError(f"{person.name} is a minor: give guardian_name (the guardian signs)")
        record = people_service.give_consent(
            session,
            runtime(),
            person,
            channels=body.get("channels") or [],
            evidence=evidence,
            evidence_mime=mime,
            evidence_kind=kind,
            signer_name=guardian or body.get("signer_name") or person.name,
            guardian=bool(guardian),
            scope=body.get("scope", "all"),
            photo_ids=photo_ids if body.get("scope") == "listed" else [],
            expires_at=expires_at,
            biometric=bool(body.get("biometric", False)),
            language=body.get("language", "en"),
            actor=api_user(),
            note=body.get("note"),
        )
    except ConsentError as exc:
        session.rollback()
        abort(422, description=str(exc))
    session.commit()
    return jsonify(consent_json(record)), 201


@bp.get("/consents/<int:consent_id>")
@documented("/consents/{consent_id}", "GET", "One consent record", tag="consent", response=CONSENT)
def get_consent(consent_id: int) -> Any:
    record = get_or_404(ConsentRecord, consent_id)
    erased = db().scalar(sa.select(Person.erased_at).where(Person.id == record.person_id))
    if erased is not None:
        abort(404, description="this person was erased")
    return jsonify(consent_json(record))
