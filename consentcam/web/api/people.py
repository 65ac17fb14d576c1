"""API: people (list, add, read, change); their consent records are in ``consents``."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from consentcam.models import Person
from consentcam.services import listings
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.web import db, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    Closed,
    Shape,
    array,
    boolean,
    email,
    integer,
    moment,
    nested,
    query_integer,
    text,
)


class PersonSchema(Shape):
    id = integer(required=True)
    name = text(required=True)
    email = text(required=True, nullable=True)
    phone = text(required=True, nullable=True)
    is_minor = boolean(required=True)
    note = text(required=True, nullable=True)
    created_at = moment(required=True)
    consent_count = integer(required=True)
    active_channels = integer(required=True, description="Channels with active consent")
    photo_count = integer(required=True, description="Photos with a confirmed face")
    biometric = boolean(required=True, description="Active biometric consent")


class PersonListSchema(Shape):
    people = array(nested(PersonSchema), required=True)
    total = integer(required=True)
    page = integer(required=True)
    per_page = integer(required=True)


class PersonPatchSchema(Closed):
    name = text(min_length=1, max_length=200, pattern=r"\S")
    email = email()
    phone = text(max_length=40, nullable=True)
    is_minor = boolean()
    note = text(max_length=2000, nullable=True)


class PersonNewSchema(PersonPatchSchema):
    name = text(required=True, min_length=1, max_length=200, pattern=r"\S")


class PeopleQuery(Shape):
    q = text(max_length=200, description="Part of a name or e-mail")
    page = query_integer(1, 100000, default=1)
    per_page = query_integer(1, 200, default=50)


def person_or_404(person_id: int) -> Person:
    return found(listings.person(db(), person_id), f"no such person {person_id}")


def person_json(person: Person, row: people_service.PersonRow | None = None) -> dict[str, Any]:
    if row is None:
        row = listings.person_row(db(), person)
    return {
        **people_service.person_fields(person),
        "consent_count": row.consents,
        "active_channels": row.active_channels,
        "photo_count": row.photos,
        "biometric": row.biometric,
    }


@bp.endpoint("GET", "/people", tag="people", query=PeopleQuery, response=PersonListSchema)
def list_people(args: dict[str, Any]) -> Any:
    """List people (search by name or e-mail)"""
    page, per_page = args["page"], args["per_page"]
    rows, total = people_service.search_people(
        db(), args.get("q", ""), page=page, per_page=per_page
    )
    return jsonify(
        {
            "people": [person_json(r.person, r) for r in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@bp.endpoint(
    "POST", "/people", tag="people", body=PersonNewSchema, response=PersonSchema, status=201
)
def create_person(body: dict[str, Any]) -> Any:
    """Add a person"""
    try:
        with transaction() as session:
            person = people_service.add_person(
                session,
                body["name"],
                email=body.get("email"),
                phone=body.get("phone"),
                is_minor=bool(body.get("is_minor", False)),
                note=body.get("note"),
                actor=api_user(),
            )
    except ConsentError as exc:
        abort(422, description=str(exc))
    return jsonify(person_json(person)), 201


@bp.endpoint("GET", "/people/<int:person_id>", tag="people", response=PersonSchema)
def get_person(person_id: int) -> Any:
    """One person"""
    return jsonify(person_json(person_or_404(person_id)))


@bp.endpoint(
    "PATCH", "/people/<int:person_id>", tag="people", body=PersonPatchSchema, response=PersonSchema
)
def update_person(body: dict[str, Any], person_id: int) -> Any:
    """Change a person's details"""
    person = person_or_404(person_id)
    try:
        with transaction() as session:
            people_service.update_person(
                session,
                person,
                name=body.get("name", person.name),
                email=body.get("email", person.email),
                phone=body.get("phone", person.phone),
                is_minor=body.get("is_minor", person.is_minor),
                note=body.get("note", person.note),
                actor=api_user(),
            )
    except ConsentError as exc:
        abort(422, description=str(exc))
    return jsonify(person_json(person))
