"""API: one-time consent links a customer signs on their own phone, and their state."""

from __future__ import annotations

import base64
import io
from typing import Any

import segno
from flask import abort, jsonify

from consentcam.models import ConsentLink, Person
from consentcam.services import links, mail
from consentcam.uow import send_pending
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, json_body, require_owner, schema
from consentcam.web.mine import external_url, public_root, render_mail

DATE_TIME = {"type": "string", "format": "date-time"}

CONSENT_LINK = schema(
    "ConsentLink",
    {
        "type": "object",
        "required": [
            "id",
            "person_id",
            "language",
            "state",
            "created_at",
            "expires_at",
            "used_at",
            "consent_id",
        ],
        "properties": {
            "id": {"type": "integer"},
            "person_id": {"type": "integer", "nullable": True},
            "language": {"type": "string", "enum": ["en", "sv"]},
            "state": {"type": "string", "enum": ["waiting", "used", "expired"]},
            "created_at": DATE_TIME,
            "expires_at": DATE_TIME,
            "used_at": {**DATE_TIME, "nullable": True},
            "consent_id": {"type": "integer", "nullable": True},
        },
    },
)
CONSENT_LINK_NEW = schema(
    "ConsentLinkNew",
    {
        "type": "object",
        "properties": {
            "language": {"type": "string", "enum": ["en", "sv"], "default": "sv"},
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 254,
                "nullable": True,
                "description": "Also send the link to this address (when e-mail is on)",
            },
            "qr": {"type": "string", "enum": ["png", "svg"], "default": "svg"},
        },
        "additionalProperties": False,
    },
)
CONSENT_LINK_ISSUED = schema(
    "ConsentLinkIssued",
    {
        "type": "object",
        "required": ["link", "url", "expires_at", "qr", "qr_format", "emailed"],
        "properties": {
            "link": CONSENT_LINK,
            "url": {
                "type": "string",
                "description": "The link to sign; shown only here (only its hash is stored)",
            },
            "expires_at": DATE_TIME,
            "qr": {"type": "string", "description": "The QR code: SVG text, or base64 of a PNG"},
            "qr_format": {"type": "string", "enum": ["png", "svg"]},
            "emailed": {"type": "boolean"},
        },
    },
)


def qr_code(url: str, kind: str) -> str:
    out = io.BytesIO()
    code = segno.make(url, error="m")
    if kind == "png":
        code.save(out, kind="png", scale=8, border=2)
        return base64.b64encode(out.getvalue()).decode("ascii")
    code.save(out, kind="svg", scale=8, border=2, xmldecl=False)
    return out.getvalue().decode("utf-8")


@bp.post("/people/<int:person_id>/consent-links")
@documented(
    "/people/{person_id}/consent-links",
    "post",
    "Make a one-time consent link (with its QR code) the person signs on their own phone",
    tag="consent links",
    body=CONSENT_LINK_NEW,
    response=CONSENT_LINK_ISSUED,
    status=201,
    owner_only=True,
)
def create_consent_link(person_id: int) -> Any:
    require_owner()
    data = json_body()
    unknown = set(data) - {"language", "email", "qr"}
    if unknown:
        abort(422, description=f"unknown fields: {', '.join(sorted(unknown))}")
    language = data.get("language", "sv")
    kind = data.get("qr", "svg")
    email = data.get("email")
    if language not in ("en", "sv"):
        abort(422, description="language must be 'en' or 'sv'")
    if kind not in ("png", "svg"):
        abort(422, description="qr must be 'png' or 'svg'")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        abort(422, description="email must be an e-mail address")
    session = db()
    person = session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        abort(404, description="no such person")
    if public_root() is None:
        abort(409, description="set PUBLIC_URL: a link must not take its address from the request")
    issued = links.create_consent_link(
        session, runtime(), person, language=language, email=email, actor=api_user()
    )
    url = external_url("mine.sign", token=issued.token)
    ids: list[int] = []
    if issued.link.sent_to:
        subject, text, html = render_mail(
            "consent_link",
            language,
            person=person,
            url=url,
            minutes=links.link_minutes(runtime()),
            business=runtime().settings.get("BUSINESS_NAME") or "",
        )
        queued = mail.queue_mail(
            session,
            runtime(),
            kind="consent_link",
            to=issued.link.sent_to,
            subject=subject,
            text=text,
            html=html,
            person_id=person.id,
        )
        ids = [queued.id] if queued else []
    session.commit()
    send_pending(runtime(), session)  # the e-mail's send job, now that its row is committed
    body = {
        "link": links.consent_link_json(issued.link),
        "url": url,
        "expires_at": issued.link.expires_at.isoformat(),
        "qr": qr_code(url, kind),
        "qr_format": kind,
        "emailed": bool(ids),
    }
    return jsonify(body), 201


@bp.get("/consent-links/<int:link_id>")
@documented(
    "/consent-links/{link_id}",
    "get",
    "The state of a consent link: waiting, used or expired",
    tag="consent links",
    response=CONSENT_LINK,
    owner_only=True,
)
def get_consent_link(link_id: int) -> Any:
    require_owner()
    link = db().get(ConsentLink, link_id)
    if link is None:
        abort(404, description="no such consent link")
    return jsonify(links.consent_link_json(link))
