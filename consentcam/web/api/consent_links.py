"""API: one-time consent links a customer signs on their own phone, and their state."""

from __future__ import annotations

import base64
import io
from typing import Any

import segno
from flask import abort, jsonify

from consentcam.models import ConsentLink, Person
from consentcam.services import links, listings, mail
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, not_found
from consentcam.web.api.fields import Closed, Shape, boolean, email, integer, moment, nested, text
from consentcam.web.mine import external_url, public_root, render_mail

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


def qr_code(url: str, kind: str) -> str:
    out = io.BytesIO()
    code = segno.make(url, error="m")
    if kind == "png":
        code.save(out, kind="png", scale=8, border=2)
        return base64.b64encode(out.getvalue()).decode("ascii")
    code.save(out, kind="svg", scale=8, border=2, xmldecl=False)
    return out.getvalue().decode("utf-8")


def _queue_link_mail(
    session: Any, person: Person, link: ConsentLink, url: str, language: str
) -> list[int]:
    """Write the link's e-mail (when an address was given); the ids of the messages queued."""
    if not link.sent_to:
        return []
    rt = runtime()
    subject, text_body, html = render_mail(
        "consent_link",
        language,
        person=person,
        url=url,
        minutes=links.link_minutes(rt),
        business=rt.settings.get("BUSINESS_NAME") or "",
    )
    queued = mail.queue_mail(
        session,
        rt,
        kind="consent_link",
        to=link.sent_to,
        subject=subject,
        text=text_body,
        html=html,
        person_id=person.id,
    )
    return [queued.id] if queued else []


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
    person = listings.person(db(), person_id)
    if person is None:
        not_found("no such person")
    if public_root() is None:
        abort(409, description="set PUBLIC_URL: a link must not take its address from the request")
    with transaction() as session:
        issued = links.create_consent_link(
            session,
            runtime(),
            person,
            language=body["language"],
            email=body.get("email"),
            actor=api_user(),
        )
        url = external_url("mine.sign", token=issued.token)
        ids = _queue_link_mail(session, person, issued.link, url, body["language"])
    return jsonify(
        {
            "link": links.consent_link_json(issued.link),
            "url": url,
            "expires_at": issued.link.expires_at.isoformat(),
            "qr": qr_code(url, body["qr"]),
            "qr_format": body["qr"],
            "emailed": bool(ids),
        }
    ), 201


@bp.endpoint("GET", "/consent-links/<int:link_id>", tag="consent links", response=ConsentLinkSchema)
def get_consent_link(link_id: int) -> Any:
    """The state of a consent link: waiting, used or expired"""
    link = listings.consent_link(db(), link_id)
    if link is None:
        not_found("no such consent link")
    return jsonify(links.consent_link_json(link))
