"""The personal link: the customer's own page, where they see and withdraw their consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import Channel
from consentcam.models import (
    ConsentRecord,
    CustomerRequest,
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
from consentcam.services.links.common import CUSTOMER, LinkError, LinkRefused, hash_token, new_token
from consentcam.services.withdrawal import WithdrawalResult, shown_publication_ids, withdraw_consent
from consentcam.wording import N_


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
    ended = revoke_links(session, person.id, now)
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


def revoke_links(session: so.Session, person_id: int, now: datetime) -> list[int]:
    """End every active personal link of the person; returns their ids."""
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
    ended = revoke_links(session, person.id, now)
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


_ACTIVE_PERSONAL_LINK = (
    sa.select(PersonalLink)
    .where(PersonalLink.person_id == sa.bindparam("person"), PersonalLink.revoked_at.is_(None))
    .order_by(PersonalLink.id.desc())
    .limit(1)
)


def active_personal_link(session: so.Session, person_id: int) -> PersonalLink | None:
    # Built once: a person's page asks it on every view.
    return session.scalar(_ACTIVE_PERSONAL_LINK, {"person": person_id})


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


def own_consent(session: so.Session, link: PersonalLink, consent_id: int) -> ConsentRecord | None:
    """One of the link's person's own consent records, or None (someone else's is never shown)."""
    record = session.get(ConsentRecord, consent_id)
    if record is None or record.person_id != link.person_id:
        return None
    return record


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
    return MyRecord(
        person=person,
        channels=_by_channel(consents, now),
        biometric=people_service.has_biometric_consent(session, person, now),
        consents=consents,
        posts=_live_posts(session, person.id),
        open_erasure=_open_erasure(session, person.id) is not None,
    )


def _by_channel(consents: list[ConsentRecord], now: datetime) -> list[ChannelConsent]:
    """Each channel's consent as it stands now, in the channels' order."""
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
    return [by_channel[c] for c in order if c in by_channel]


def _live_posts(session: so.Session, person_id: int) -> list[Post]:
    """The live posts showing the person, newest first, with any removal deadline."""
    rows = session.execute(
        sa.select(Publication, RemovalTask.due_at)
        .outerjoin(
            RemovalTask,
            sa.and_(RemovalTask.publication_id == Publication.id, RemovalTask.status == "open"),
        )
        .where(Publication.id.in_(shown_publication_ids(person_id)), Publication.live.is_(True))
        .order_by(Publication.published_at.desc())
    ).all()
    return [Post(p.channel, p.url, p.published_at, due) for p, due in rows]


def _open_erasure(session: so.Session, person_id: int) -> CustomerRequest | None:
    return session.scalar(
        sa.select(CustomerRequest)
        .where(
            CustomerRequest.person_id == person_id,
            CustomerRequest.kind == "erasure",
            CustomerRequest.status == "open",
        )
        .limit(1)
    )


def withdraw_by_customer(
    session: so.Session,
    rt: Runtime,
    link: PersonalLink,
    channels: Any,
    biometric: bool,
    now: datetime | None = None,
) -> WithdrawalResult:
    """Withdraw through the owner's own withdrawal service, and note it for the owner, in the
    caller's transaction."""
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
    open_request = _open_erasure(session, person.id)
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
