"""Withdraw a person's consent in one transaction: end it, block the queue, open removal tasks."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain import vocabulary
from consentcam.domain.types import Channel
from consentcam.models import ConsentChannel, ConsentRecord, Person, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services.withdrawal.apply import (
    PublisherLookup,
    api_delete_channels,
    apply_withdrawal,
    default_publisher_lookup,
    removal_due,
    shown_publication_ids,
)
from consentcam.services.withdrawal.result import OpenedTask, WithdrawalError, WithdrawalResult
from consentcam.uow import after_commit, later
from consentcam.wording import N_

log = logging.getLogger(__name__)


def parse_channels(value: Any) -> frozenset[Channel]:
    """Read the channels to withdraw: "all", or a list of channel names (empty: none)."""
    if value is None or value == "all":
        return frozenset(Channel)
    if not isinstance(value, str | list | tuple | set | frozenset):
        raise WithdrawalError(N_('channels must be "all" or a list of channel names'))
    return frozenset(vocabulary.parse_channels(value, WithdrawalError))


def withdraw_consent(
    session: so.Session,
    rt: Runtime,
    person: Person,
    channels: Any,
    biometric: bool,
    actor: User | None,
    at: datetime | None = None,
    *,
    publisher_lookup: PublisherLookup | None = None,
    enqueue: bool = True,
    actor_name: str | None = None,
) -> WithdrawalResult:
    """Withdraw ``person``'s consent for ``channels`` ("all" or a list) and, if asked, biometrics.

    Everything is written in the caller's transaction (flushed, not committed): the caller's
    unit of work commits it, or rolls it all back if any step fails. Doing it again changes
    nothing and opens nothing new. Once committed, the API deletions are queued as background
    jobs (unless ``enqueue`` is false) and the deleted reference photos' files are removed.
    ``actor_name`` names who withdrew in the event log when no user did (the customer on their
    own page).
    """
    targets = parse_channels(channels)
    if not targets and not biometric:
        raise WithdrawalError(N_("choose the channels to withdraw, or automatic recognition"))
    at = at or utcnow()
    result, files = apply_withdrawal(
        session, rt, person, targets, biometric, actor, at, publisher_lookup, actor_name
    )
    if files:
        # Files go only once the rows that point to them are gone for good.
        after_commit(session, partial(delete_files, rt, files))
    if enqueue:
        for task in result.api_tasks:
            later(session, "delete_publication", task.id)
    return result


def delete_files(rt: Runtime, keys: Iterable[str]) -> None:
    """Delete reference images whose rows are committed away (a missing file is no error)."""
    for key in keys:
        try:
            rt.storage.delete(key)
        except OSError:
            log.exception("could not delete reference image %s", key)


# --- What the withdrawal form shows ----------------------------------------------------------


def people_to_choose(session: so.Session) -> list[Person]:
    """Everyone whose consent can be withdrawn (not erased), by name."""
    return list(
        session.scalars(sa.select(Person).where(Person.erased_at.is_(None)).order_by(Person.name))
    )


def standing_consent(session: so.Session, person: Person) -> tuple[list[str], bool]:
    """What the person has agreed to now: the channels still standing, and biometric consent."""
    rows = session.execute(
        sa.select(ConsentChannel.channel, ConsentChannel.withdrawn_at)
        .join(ConsentRecord, ConsentChannel.consent_id == ConsentRecord.id)
        .where(ConsentRecord.person_id == person.id)
    ).all()
    standing = sorted({r.channel for r in rows if r.withdrawn_at is None})
    biometric = session.scalar(
        sa.select(sa.func.count())
        .select_from(ConsentRecord)
        .where(
            ConsentRecord.person_id == person.id,
            ConsentRecord.biometric.is_(True),
            ConsentRecord.biometric_withdrawn_at.is_(None),
        )
    )
    return standing, bool(biometric)


__all__ = [
    "OpenedTask",
    "PublisherLookup",
    "WithdrawalError",
    "WithdrawalResult",
    "api_delete_channels",
    "default_publisher_lookup",
    "delete_files",
    "parse_channels",
    "people_to_choose",
    "removal_due",
    "shown_publication_ids",
    "standing_consent",
    "withdraw_consent",
]
