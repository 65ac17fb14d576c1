"""One-time consent links: made by the owner, signed once on the customer's own phone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.vocabulary import iso
from consentcam.models import ConsentLink, ConsentRecord, Person, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services import people as people_service
from consentcam.services.links.common import (
    CUSTOMER,
    USER_AGENT_MAX,
    LinkError,
    LinkRefused,
    hash_token,
    link_minutes,
    new_token,
)
from consentcam.services.links.personal import issue_personal_link
from consentcam.services.people import ConsentError
from consentcam.wording import N_


@dataclass(frozen=True)
class IssuedLink:
    """A link just made: the row and the token, which exists only here and in the URL."""

    link: ConsentLink
    token: str


def create_consent_link(
    session: so.Session,
    rt: Runtime,
    person: Person | None,
    *,
    language: str = "sv",
    email: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> IssuedLink:
    """Make a one-time consent link for ``person`` (or a new customer when None)."""
    if language not in people_service.LANGUAGES:
        raise LinkError(
            N_("no consent form in language %(language)r (have: %(have)s)"),
            language=language,
            have=", ".join(people_service.LANGUAGES),
        )
    if person is not None and person.erased_at is not None:
        raise LinkError(N_("this person has been erased"))
    missing = people_service.missing_form_details(rt.settings)
    if missing:
        # The form a customer would sign names the business and the responsible person.
        raise LinkError(people_service.FormDetailsMissing(missing).template)
    now = now or utcnow()
    token = new_token()
    link = ConsentLink(
        token_hash=hash_token(token),
        person_id=person.id if person else None,
        language=language,
        sent_to=(email or "").strip() or None,
        created_by_id=actor.id if actor else None,
        created_at=now,
        expires_at=now + timedelta(minutes=link_minutes(rt)),
    )
    session.add(link)
    session.flush()
    events.record(
        session,
        "consent_link.created",
        f"person:{person.id}" if person else f"consent_link:{link.id}",
        # No address in the append-only log: it could never be erased from there.
        {"link": link.id, "expires_at": link.expires_at, "by_email": bool(link.sent_to)},
        actor=actor.email if actor else None,
        at=now,
    )
    return IssuedLink(link, token)


def link_state(link: ConsentLink, now: datetime | None = None) -> str:
    """waiting, used or expired."""
    if link.used_at is not None:
        return "used"
    if link.expires_at <= (now or utcnow()):
        return "expired"
    return "waiting"


def open_consent_link(session: so.Session, token: str, now: datetime | None = None) -> ConsentLink:
    """The waiting link of this token; LinkRefused for any other token, whatever the reason."""
    digest = hash_token(token or "")
    # One query whatever the token: the person comes with the link, so no refusal takes longer.
    link = session.scalar(
        sa.select(ConsentLink)
        .where(ConsentLink.token_hash == digest)
        .options(so.joinedload(ConsentLink.person))
    )
    if link is None or link_state(link, now) != "waiting":
        raise LinkRefused()
    if link.person is not None and link.person.erased_at is not None:
        raise LinkRefused()
    return link


@dataclass(frozen=True)
class Signed:
    record: ConsentRecord
    person: Person
    personal_token: str


def sign_by_link(
    session: so.Session,
    rt: Runtime,
    token: str,
    *,
    channels: list[str],
    biometric: bool,
    signature: bytes,
    language: str,
    form_sha256: str | None,
    name: str = "",
    minor: bool = False,
    guardian_name: str = "",
    email: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> Signed:
    """Record the consent a customer signed through a link, in the caller's transaction.

    The signature is checked exactly like one drawn on the owner's device, and the record holds
    the form version, the signature and its SHA-256, the time and the phone's user agent (no IP
    address). The link is claimed atomically, so two sends of the same link record one consent.
    The caller rolls back on any error: then the link is still unused.
    """
    now = now or utcnow()
    link = open_consent_link(session, token, now)
    if language not in people_service.LANGUAGES:
        language = link.language
    _check_form(session, rt, language, form_sha256)
    people_service.check_signature(signature)
    person, minor, guardian = _signer(session, link, name, minor, guardian_name, email)
    _claim(session, link, now)
    address = (email or "").strip() or None
    if address and address != person.email:
        person.email = address
    record = people_service.give_consent(
        session,
        rt,
        person,
        channels=channels,
        evidence=signature,
        evidence_mime="image/png",
        evidence_kind="signature",
        signer_name=guardian if minor else person.name,
        guardian=minor,
        biometric=biometric,
        language=language,
        given_at=now,
    )
    record.signed_via = "link"
    record.user_agent = (user_agent or "")[:USER_AGENT_MAX] or None
    _mark_used(session, link, record, person, now)
    personal = issue_personal_link(session, person, actor_name=CUSTOMER, now=now)
    return Signed(record, person, personal)


def _check_form(session: so.Session, rt: Runtime, language: str, form_sha256: str | None) -> None:
    """Refuse a signature given on a form text other than today's."""
    version = people_service.current_form(session, rt, language)
    if form_sha256 and form_sha256 != version.sha256:
        raise ConsentError(
            N_("The form text changed while you were filling it in: read it again and sign.")
        )


def _signer(
    session: so.Session,
    link: ConsentLink,
    name: str,
    minor: bool,
    guardian_name: str,
    email: str | None,
) -> tuple[Person, bool, str]:
    """Who signs: the link's person, or a new customer; whether a minor; the guardian's name."""
    person = link.person
    guardian = (guardian_name or "").strip()
    if person is None:
        person = people_service.add_person(
            session, name, email=(email or "").strip() or None, is_minor=minor, actor=None
        )
    else:
        minor = person.is_minor
    if minor and not guardian:
        raise ConsentError(
            N_("A minor's consent is signed by a guardian: enter the guardian's name.")
        )
    return person, minor, guardian


def _claim(session: so.Session, link: ConsentLink, now: datetime) -> None:
    """Claim the link: a concurrent send of the same link finds it used and changes nothing."""
    claimed = session.execute(
        sa.update(ConsentLink)
        .where(
            ConsentLink.id == link.id,
            ConsentLink.used_at.is_(None),
            ConsentLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkRefused()
    link.used_at = now


def _mark_used(
    session: so.Session, link: ConsentLink, record: ConsentRecord, person: Person, now: datetime
) -> None:
    """Tie the used link to the consent it gave, and log it."""
    link.consent_id = record.id
    link.person_id = person.id
    session.flush()
    events.record(
        session,
        "consent_link.used",
        f"person:{person.id}",
        {"link": link.id, "consent": record.id},
        actor=CUSTOMER,
        at=now,
    )


def consent_link_json(link: ConsentLink, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": link.id,
        "person_id": link.person_id,
        "language": link.language,
        "state": link_state(link, now),
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "used_at": iso(link.used_at),
        "consent_id": link.consent_id,
    }
