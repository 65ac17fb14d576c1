"""What the owner sees of the customers' links: their open requests, and erasure's clean-up."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import first_and_total
from consentcam.domain.types import RequestStatus
from consentcam.models import (
    ConsentChannel,
    ConsentLink,
    ConsentRecord,
    CustomerRequest,
    OutgoingMail,
    User,
    utcnow,
)
from consentcam.services.links.personal import revoke_links


def open_requests(session: so.Session, limit: int = 20) -> tuple[int, list[CustomerRequest]]:
    """Customers' erasure requests and withdrawals the owner has not dealt with, newest first."""
    query = (
        sa.select(CustomerRequest)
        .where(CustomerRequest.status == "open")
        .order_by(CustomerRequest.created_at.desc(), CustomerRequest.id.desc())
        .options(so.joinedload(CustomerRequest.person))
    )
    return first_and_total(session, query, limit)


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


def forget_person(session: so.Session, person_id: int, now: datetime | None = None) -> None:
    """On erasure: end the person's links and forget the addresses their e-mails went to."""
    now = now or utcnow()
    revoke_links(session, person_id, now)
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
