"""API: publications (what was posted where, with the faces as they were published)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from consentcam.domain.vocabulary import iso
from consentcam.models import Publication
from consentcam.services import listings
from consentcam.web import db
from consentcam.web.api import bp, found
from consentcam.web.api.fields import (
    MAX_ID,
    Shape,
    array,
    boolean,
    integer,
    moment,
    nested,
    query_boolean,
    query_integer,
    text,
)


class PublishedFace(Shape):
    face_id = integer(required=True)
    person_id = integer(required=True, nullable=True)
    how = text(required=True, choices=["consent", "not_identifiable", "blur", "supplier"])
    consent_id = integer(required=True, nullable=True)


class PublicationSchema(Shape):
    id = integer(required=True)
    queue_item_id = integer(required=True, nullable=True)
    photo_id = integer(required=True)
    channel = text(required=True)
    publisher = text(required=True, choices=["manual", "meta"])
    external_id = text(required=True, nullable=True)
    url = text(required=True, nullable=True)
    caption = text(required=True)
    published_at = moment(required=True)
    cleared_copy_sha256 = text(required=True, nullable=True)
    supplier_permission_id = integer(required=True, nullable=True)
    live = boolean(required=True)
    removed_at = moment(required=True, nullable=True)
    faces = array(nested(PublishedFace), required=True)


class PublicationListSchema(Shape):
    publications = array(nested(PublicationSchema), required=True)


class PublicationQuery(Shape):
    live = query_boolean()
    photo_id = query_integer(1, MAX_ID)
    limit = query_integer(1, 500, default=100)
    offset = query_integer(0, MAX_ID, default=0)


def publication_json(pub: Publication) -> dict[str, Any]:
    return {
        "id": pub.id,
        "queue_item_id": pub.queue_item_id,
        "photo_id": pub.photo_id,
        "channel": pub.channel,
        "publisher": pub.publisher,
        "external_id": pub.external_id,
        "url": pub.url,
        "caption": pub.caption or "",
        "published_at": iso(pub.published_at),
        "cleared_copy_sha256": pub.cleared_copy_sha256,
        "supplier_permission_id": pub.supplier_permission_id,
        "live": pub.live,
        "removed_at": iso(pub.removed_at),
        "faces": [
            {
                "face_id": f.face_id,
                "person_id": f.person_id,
                "how": f.how,
                "consent_id": f.consent_id,
            }
            for f in pub.faces
        ],
    }


@bp.endpoint(
    "GET",
    "/publications",
    tag="publications",
    query=PublicationQuery,
    response=PublicationListSchema,
)
def list_publications(args: dict[str, Any]) -> Response:
    """List publications, newest first"""
    rows = listings.publications(
        db(),
        live=args.get("live"),
        photo_id=args.get("photo_id"),
        limit=args["limit"],
        offset=args["offset"],
    )
    return jsonify({"publications": [publication_json(p) for p in rows]})


@bp.endpoint(
    "GET", "/publications/<int:publication_id>", tag="publications", response=PublicationSchema
)
def get_publication(publication_id: int) -> Response:
    """One publication with its faces as published"""
    pub = found(listings.publication(db(), publication_id), f"no publication {publication_id}")
    return jsonify(publication_json(pub))
