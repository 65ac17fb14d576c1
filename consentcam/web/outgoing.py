"""What leaves the app for someone else to open: absolute links, QR codes and templated e-mail.

Shared by the customers' pages, the owner's pages and the JSON API, so a link, its QR code and
its e-mail are made one way whichever of them asks.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import segno
from flask import current_app, render_template, request, url_for
from flask_babel import force_locale

from consentcam.models import ConsentLink, Person, User
from consentcam.services import links, mail
from consentcam.web import runtime


class NoPublicAddress(RuntimeError):
    """No address others can be sent to: PUBLIC_URL is not set and any Host header is answered."""


def public_root() -> str | None:
    """The base of links that leave the app (QR codes, e-mails), or None.

    PUBLIC_URL; else this request's own address, but only when the app answers listed hosts
    alone (TRUSTED_HOSTS), so it cannot be a Host header anyone chose.
    """
    from consentcam.public_url import public_base

    base = public_base(current_app.config)
    if base:
        return base
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.url_root.rstrip("/")
    return None


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for a link someone else opens (QR code, e-mail); NoPublicAddress if none."""
    base = public_root()
    if base is None:
        raise NoPublicAddress(endpoint)
    return base + url_for(endpoint, **values)


def own_url(endpoint: str, **values: Any) -> str:
    """An absolute URL shown only to whoever asked (their receipt): their own address is fine."""
    base = public_root()
    if base is not None:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def qr_code(url: str, kind: str = "png", scale: int = 8) -> bytes:
    """The QR code of ``url`` as a PNG or an SVG (without an XML declaration)."""
    out = io.BytesIO()
    code = segno.make(url, error="m")
    if kind == "svg":
        code.save(out, kind="svg", scale=scale, border=2, xmldecl=False)
    else:
        code.save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def qr_png_data_uri(url: str, scale: int = 8) -> str:
    png = qr_code(url, "png", scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def business_name() -> str:
    return str(current_app.config.get("BUSINESS_NAME") or "")


def mail_on() -> bool:
    return mail.mail_enabled(runtime().settings)


def render_mail(name: str, language: str, **context: Any) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of mail/<name>.txt and .html in ``language``."""
    with force_locale(language):
        text = render_template(f"mine/mail/{name}.txt", mail_language=language, **context)
        html = render_template(f"mine/mail/{name}.html", mail_language=language, **context)
        subject = text.splitlines()[0].removeprefix("Subject:").strip()
        body = "\n".join(text.splitlines()[1:]).strip() + "\n"
    return subject, body, html


def queue_templated_mail(
    session: Any, name: str, language: str, *, to: str, person_id: int | None, **context: Any
) -> list[int]:
    """Render mail/<name> in ``language`` and queue it in the unit of work of ``session``; the
    mail ids (the worker sends it once that commits)."""
    subject, text, html = render_mail(name, language, **context)
    queued = mail.queue_mail(
        session,
        runtime(),
        kind=name,
        to=to,
        subject=subject,
        text=text,
        html=html,
        person_id=person_id,
    )
    return [queued.id] if queued else []


@dataclass(frozen=True)
class MadeLink:
    """A consent link just made: the row, its address (the token is only in it) and the ids of
    the e-mails that bring it (none without an address or while e-mail is off)."""

    link: ConsentLink
    url: str
    mail_ids: list[int]


def make_consent_link(
    session: Any, person: Person | None, *, language: str, email: str | None, actor: User
) -> MadeLink:
    """Make a one-time consent link in the unit of work of ``session`` and queue its e-mail when
    it was made for an address (links.LinkError when refused; NoPublicAddress without one)."""
    issued = links.create_consent_link(
        session, runtime(), person, language=language, email=email, actor=actor
    )
    url = external_url("mine.sign", token=issued.token)
    return MadeLink(issued.link, url, _queue_consent_link_mail(session, issued.link, person, url))


def _queue_consent_link_mail(
    session: Any, link: ConsentLink, person: Person | None, url: str
) -> list[int]:
    if not link.sent_to:
        return []
    return queue_templated_mail(
        session,
        "consent_link",
        link.language,
        to=link.sent_to,
        person_id=person.id if person else None,
        person=person,
        url=url,
        minutes=links.link_minutes(runtime()),
        business=business_name(),
    )
