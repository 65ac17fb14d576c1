"""Customers acting for themselves: one-time consent links, the personal link, e-mail codes.

A consent link lets a customer sign on their own phone: it is used once, expires after
CONSENT_LINK_MINUTES, and only the SHA-256 of its token is stored. Signing gives the customer a
personal link to their own page, where they see their consent and posts, withdraw (through the
same withdrawal service as the owner), get a copy of their data after a one-time e-mail code,
and ask for erasure. Every invalid token is refused with the same error, whatever the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import Channel, RequestStatus
from consentcam.models import (
    ConsentChannel,
    ConsentLink,
    ConsentRecord,
    CustomerRequest,
    EmailCode,
    OutgoingMail,
    Person,
    PersonalLink,
    Publication,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services import people as people_service
from consentcam.services.people import ConsentError
from consentcam.services.withdrawal import WithdrawalResult, shown_publication_ids, withdraw_consent
from consentcam.wording import N_, WordedError

TOKEN_BYTES = 32
CODE_MINUTES = 15
CODE_TRIES = 5
USER_AGENT_MAX = 300
#: The actor the event log names for what a customer does through their own links.
CUSTOMER = "customer (own link)"


class LinkRefused(WordedError, ValueError):
    """A link that cannot be used; the same words for an unknown, used, expired or revoked one."""

    def __init__(self) -> None:
        super().__init__(
            N_(
                "This link cannot be used: it has been used already, has expired or is not "
                "valid. Ask the business for a new one."
            )
        )


class LinkError(WordedError, ValueError):
    """A request on a valid link that cannot be carried out as asked; the message says why."""


class CodeRefused(WordedError, ValueError):
    """A wrong, expired or used-up e-mail code."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _code_hash(link_id: int, code: str) -> str:
    return hashlib.sha256(f"{link_id}:{code}".encode()).hexdigest()


def link_minutes(rt: Runtime) -> int:
    return max(1, int(rt.settings.get("CONSENT_LINK_MINUTES") or 30))


# --- Consent links ---------------------------------------------------------------------------


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
    version = people_service.current_form(session, rt, language)
    if form_sha256 and form_sha256 != version.sha256:
        raise ConsentError(
            N_("The form text changed while you were filling it in: read it again and sign.")
        )
    people_service.check_signature(signature)
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
    # Claim the link: a concurrent send of the same link finds it used and changes nothing.
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
    personal = issue_personal_link(session, person, actor_name=CUSTOMER, now=now)
    return Signed(record, person, personal)


def consent_link_json(link: ConsentLink, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": link.id,
        "person_id": link.person_id,
        "language": link.language,
        "state": link_state(link, now),
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "used_at": link.used_at.isoformat() if link.used_at else None,
        "consent_id": link.consent_id,
    }


# --- The personal link -------------------------------------------------------------------------


def issue_personal_link(
    session: so.Session,
    person: Person,
    *,
    actor_name: str | None,
    now: datetime | None = None,
) -> str:
    """Give the person a new personal link, ending any earlier one; returns its token."""
    now = now or utcnow()
    if person.erased_at is not None:
        raise LinkError(N_("this person has been erased"))
    ended = _revoke(session, person.id, now)
    token = new_token()
    link = PersonalLink(token_hash=hash_token(token), person_id=person.id, created_at=now)
    session.add(link)
    session.flush()
    events.record(
        session,
        "personal_link.issued",
        f"person:{person.id}",
        {"link": link.id, "replaced": ended},
        actor=actor_name,
        at=now,
    )
    return token


def _revoke(session: so.Session, person_id: int, now: datetime) -> list[int]:
    active = list(
        session.scalars(
            sa.select(PersonalLink).where(
                PersonalLink.person_id == person_id, PersonalLink.revoked_at.is_(None)
            )
        )
    )
    for link in active:
        link.revoked_at = now
    session.flush()
    return [link.id for link in active]


def revoke_personal_links(
    session: so.Session, person: Person, *, actor: User | None = None, now: datetime | None = None
) -> int:
    """End the person's personal link (the owner's choice); returns how many were active."""
    now = now or utcnow()
    ended = _revoke(session, person.id, now)
    if ended:
        events.record(
            session,
            "personal_link.revoked",
            f"person:{person.id}",
            {"links": ended},
            actor=actor.email if actor else None,
            at=now,
        )
    return len(ended)


def active_personal_link(session: so.Session, person_id: int) -> PersonalLink | None:
    return session.scalar(
        sa.select(PersonalLink)
        .where(PersonalLink.person_id == person_id, PersonalLink.revoked_at.is_(None))
        .order_by(PersonalLink.id.desc())
        .limit(1)
    )


def open_personal_link(session: so.Session, token: str) -> PersonalLink:
    """The active personal link of this token; LinkRefused for any other, whatever the reason."""
    digest = hash_token(token or "")
    link = session.scalar(
        sa.select(PersonalLink)
        .where(PersonalLink.token_hash == digest)
        .options(so.joinedload(PersonalLink.person))
    )
    if link is None or link.revoked_at is not None or link.person.erased_at is not None:
        raise LinkRefused()
    return link


@dataclass(frozen=True)
class ChannelConsent:
    channel: str
    active: bool
    given_at: datetime | None
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class Post:
    channel: str
    url: str | None
    published_at: datetime
    #: When a removal task is open for it: the day it must be down by.
    removal_due: datetime | None = None


@dataclass(frozen=True)
class MyRecord:
    """What a personal link shows: the person's own consent per channel and their live posts."""

    person: Person
    channels: list[ChannelConsent]
    biometric: bool
    consents: list[ConsentRecord]
    posts: list[Post]
    open_erasure: bool

    @property
    def active_channels(self) -> list[str]:
        return [c.channel for c in self.channels if c.active]


def my_record(session: so.Session, person: Person, now: datetime | None = None) -> MyRecord:
    """The person's consent per channel, their records, and the links of posts showing them."""
    now = now or utcnow()
    consents = people_service.consents_newest_first(session, person)
    by_channel: dict[str, ChannelConsent] = {}
    for record in reversed(consents):  # oldest first, so the newest record decides
        live = record.given_at <= now and (record.expires_at is None or now < record.expires_at)
        for ch in record.channels:
            active = live and ch.withdrawn_at is None
            earlier = by_channel.get(ch.channel)
            if earlier is not None and earlier.active and not active:
                continue
            by_channel[ch.channel] = ChannelConsent(
                ch.channel, active, record.given_at, ch.withdrawn_at
            )
    order = [c.value for c in Channel]
    channels = [by_channel[c] for c in order if c in by_channel]
    rows = session.execute(
        sa.select(Publication, RemovalTask.due_at)
        .outerjoin(
            RemovalTask,
            sa.and_(RemovalTask.publication_id == Publication.id, RemovalTask.status == "open"),
        )
        .where(Publication.id.in_(shown_publication_ids(person.id)), Publication.live.is_(True))
        .order_by(Publication.published_at.desc())
    ).all()
    posts = [Post(p.channel, p.url, p.published_at, due) for p, due in rows]
    open_erasure = bool(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(CustomerRequest)
            .where(
                CustomerRequest.person_id == person.id,
                CustomerRequest.kind == "erasure",
                CustomerRequest.status == "open",
            )
        )
    )
    return MyRecord(
        person=person,
        channels=channels,
        biometric=people_service.has_biometric_consent(session, person, now),
        consents=consents,
        posts=posts,
        open_erasure=open_erasure,
    )


def withdraw_by_customer(
    session: so.Session,
    rt: Runtime,
    link: PersonalLink,
    channels: Any,
    biometric: bool,
    now: datetime | None = None,
) -> WithdrawalResult:
    """Withdraw through the owner's own withdrawal service, then note it for the owner.

    The withdrawal is committed by that service; the owner's notice follows in the caller's
    next commit.
    """
    person = link.person
    result = withdraw_consent(
        session, rt, person, channels, biometric, None, now, actor_name=CUSTOMER
    )
    if result.changed:
        session.add(CustomerRequest(person_id=person.id, kind="withdrawal", created_at=result.at))
        link.last_used_at = result.at
        session.flush()
    return result


def request_erasure(
    session: so.Session, link: PersonalLink, now: datetime | None = None
) -> tuple[CustomerRequest, bool]:
    """Ask the owner to erase the person; returns (the open request, whether it is new)."""
    now = now or utcnow()
    person = link.person
    open_request = session.scalar(
        sa.select(CustomerRequest).where(
            CustomerRequest.person_id == person.id,
            CustomerRequest.kind == "erasure",
            CustomerRequest.status == "open",
        )
    )
    if open_request is not None:
        return open_request, False
    request = CustomerRequest(person_id=person.id, kind="erasure", created_at=now)
    session.add(request)
    session.flush()
    events.record(
        session,
        "erasure.requested",
        f"person:{person.id}",
        {"request": request.id},
        actor=CUSTOMER,
        at=now,
    )
    return request, True


# --- Customer requests the owner sees --------------------------------------------------------


def open_requests(session: so.Session, limit: int = 20) -> tuple[int, list[CustomerRequest]]:
    """Customers' erasure requests and withdrawals the owner has not dealt with, newest first."""
    where = [CustomerRequest.status == "open"]
    total = (
        session.scalar(sa.select(sa.func.count()).select_from(CustomerRequest).where(*where)) or 0
    )
    rows = list(
        session.scalars(
            sa.select(CustomerRequest)
            .where(*where)
            .order_by(CustomerRequest.created_at.desc(), CustomerRequest.id.desc())
            .limit(limit)
            .options(so.joinedload(CustomerRequest.person))
        )
    )
    return int(total), rows


def close_request(
    session: so.Session, request_id: int, actor: User | None, now: datetime | None = None
) -> CustomerRequest | None:
    request = session.get(CustomerRequest, request_id)
    if request is None or request.status != "open":
        return request
    request.status = RequestStatus.DONE
    request.closed_at = now or utcnow()
    request.closed_by_id = actor.id if actor else None
    session.flush()
    return request


# --- One-time e-mail codes -------------------------------------------------------------------


def new_code(session: so.Session, link: PersonalLink, now: datetime | None = None) -> str:
    """Make a one-time code for the data copy (ending earlier ones); returns the code to mail."""
    now = now or utcnow()
    if not link.person.email:
        raise LinkError(
            N_("No e-mail address is on record for you: ask the business for a copy of your data.")
        )
    session.execute(
        sa.update(EmailCode)
        .where(EmailCode.personal_link_id == link.id, EmailCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        EmailCode(
            personal_link_id=link.id,
            code_hash=_code_hash(link.id, code),
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    )
    session.flush()
    return code


def check_code(
    session: so.Session, link: PersonalLink, code: str, now: datetime | None = None
) -> None:
    """Accept the current code once; a wrong try counts (the caller commits either way).

    After CODE_TRIES wrong tries the code is dead and only a new one works.
    """
    now = now or utcnow()
    current = session.scalar(
        sa.select(EmailCode)
        .where(EmailCode.personal_link_id == link.id, EmailCode.used_at.is_(None))
        .order_by(EmailCode.id.desc())
        .limit(1)
    )
    if current is None or current.expires_at <= now or current.attempts >= CODE_TRIES:
        raise CodeRefused(N_("This code can no longer be used: ask for a new one."))
    typed = "".join(ch for ch in (code or "") if ch.isdigit())
    if not hmac.compare_digest(_code_hash(link.id, typed), current.code_hash):
        current.attempts += 1
        session.flush()
        left = CODE_TRIES - current.attempts
        if left <= 0:
            raise CodeRefused(N_("Wrong code five times: ask for a new one."))
        raise CodeRefused(N_("Wrong code. %(left)s tries left."), left=left)
    current.used_at = now
    link.last_used_at = now
    session.flush()


# --- Erasure ---------------------------------------------------------------------------------


def forget_person(session: so.Session, person_id: int, now: datetime | None = None) -> None:
    """On erasure: end the person's links and forget the addresses their e-mails went to."""
    now = now or utcnow()
    _revoke(session, person_id, now)
    session.execute(
        sa.update(ConsentLink)
        .where(ConsentLink.person_id == person_id)
        .values(sent_to=None, used_at=sa.func.coalesce(ConsentLink.used_at, now))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(OutgoingMail)
        .where(OutgoingMail.person_id == person_id)
        .where(OutgoingMail.state != "sent")
        .values(body_enc=None, state="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(OutgoingMail)
        .where(OutgoingMail.person_id == person_id)
        .values(to_address="(erased)")
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(CustomerRequest)
        .where(CustomerRequest.person_id == person_id, CustomerRequest.status == "open")
        .values(status="done", closed_at=now)
        .execution_options(synchronize_session=False)
    )


def channel_rows(session: so.Session, person_id: int) -> list[tuple[str, datetime | None]]:
    """(channel, withdrawn_at) of every consent channel the person has (for tests and checks)."""
    return [
        (row.channel, row.withdrawn_at)
        for row in session.execute(
            sa.select(ConsentChannel.channel, ConsentChannel.withdrawn_at)
            .join(ConsentRecord, ConsentChannel.consent_id == ConsentRecord.id)
            .where(ConsentRecord.person_id == person_id)
        )
    ]
