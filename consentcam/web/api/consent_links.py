"""API: one-time consent links a customer signs on their own phone, and their state."""

from __future__ import annotations

import base64
from typing import Any

from flask import abort, jsonify

from consentcam.domain.vocabulary import iso
from consentcam.services import links, listings
from consentcam.web import db, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import Closed, Shape, boolean, email, integer, moment, nested, text
from consentcam.web.outgoing import make_consent_link, public_root, qr_code

LANGUAGES = ["en", "sv"]
QR_KINDS = ["png", "svg"]


class ConsentLinkSchema(Shape):
    id = integer(required=True)
    person_id = integer(required=True, nullable=True)
    language = text(required=True, choices=LANGUAGES)
    state = text(required=True, choices=["waiting", "used", "expired"])
    created_at = moment(required=True)
    expires_at = moment(required=True)
    used_at = moment(required=True, nullable=True)
    consent_id = integer(required=True, nullable=True)


class ConsentLinkNewSchema(Closed):
    language = text(choices=LANGUAGES, default="sv")
    email = email(description="Also send the link to this address (when e-mail is on)")
    qr = text(choices=QR_KINDS, default="svg")


class ConsentLinkIssuedSchema(Shape):
    link = nested(ConsentLinkSchema, required=True)
    url = text(
        required=True, description="The link to sign; shown only here (only its hash is stored)"
    )
    expires_at = moment(required=True)
    qr = text(required=True, description="The QR code: SVG text, or base64 of a PNG")
    qr_format = text(required=True, choices=QR_KINDS)
    emailed = boolean(required=True)


def qr_text(url: str, kind: str) -> str:
    """The QR code as the API answers it: SVG text, or base64 of a PNG."""
    code = qr_code(url, kind)
    return base64.b64encode(code).decode("ascii") if kind == "png" else code.decode("utf-8")


@bp.endpoint(
    "POST",
    "/people/<int:person_id>/consent-links",
    tag="consent links",
    body=ConsentLinkNewSchema,
    response=ConsentLinkIssuedSchema,
    status=201,
)
def create_consent_link(body: dict[str, Any], person_id: int) -> Any:
    """Make a one-time consent link (with its QR code) the person signs on their own phone"""
    person = found(listings.person(db(), person_id), "no such person")
    if public_root() is None:
        abort(409, description="set PUBLIC_URL: a link must not take its address from the request")
    try:
        with transaction() as session:
            made = make_consent_link(
                session,
                person,
                language=body["language"],
                email=body.get("email"),
                actor=api_user(),
            )
    except links.LinkError as exc:  # the form cannot be signed yet (the settings it names)
        abort(409, description=str(exc))
    return jsonify(
        {
            "link": links.consent_link_json(made.link),
            "url": made.url,
            "expires_at": iso(made.link.expires_at),
            "qr": qr_text(made.url, body["qr"]),
            "qr_format": body["qr"],
            "emailed": bool(made.mail_ids),
        }
    ), 201


@bp.endpoint("GET", "/consent-links/<int:link_id>", tag="consent links", response=ConsentLinkSchema)
def get_consent_link(link_id: int) -> Any:
    """The state of a consent link: waiting, used or expired"""
    link = found(listings.consent_link(db(), link_id), "no such consent link")
    return jsonify(links.consent_link_json(link))
