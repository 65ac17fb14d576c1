"""Plan what a withdrawal of consent changes: records, queued posts, removal tasks, templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from consentcam.domain.types import Channel, Consent, require_aware

QueueStatus = Literal["ready", "blocked", "scheduled", "published", "cancelled"]
QUEUE_STATUSES: frozenset[str] = frozenset(
    {"ready", "blocked", "scheduled", "published", "cancelled"}
)
# Items in these states may still go out, so a withdrawal must stop them.
_BLOCKABLE: frozenset[str] = frozenset({"ready", "scheduled"})

DEFAULT_REMOVAL_DUE = timedelta(days=7)
# GDPR Art. 12(3): act on a request without undue delay and within one month at the latest.
# 31 days is the longest month.
MAX_REMOVAL_DUE = timedelta(days=31)

RemovalMethod = Literal["api", "manual"]


@dataclass(frozen=True)
class QueueItemView:
    """A photo waiting in the publish queue, with the people confirmed on it."""

    id: int
    photo_id: int
    channels: frozenset[Channel]
    status: str
    person_ids: frozenset[int]

    def __post_init__(self) -> None:
        if self.status not in QUEUE_STATUSES:
            raise ValueError(f"queue item {self.id} has unknown status {self.status!r}")
        object.__setattr__(self, "channels", frozenset(Channel(c) for c in self.channels))
        object.__setattr__(self, "person_ids", frozenset(self.person_ids))


@dataclass(frozen=True)
class PublicationView:
    """A post made on one channel, with the people it shows.

    ``can_api_delete`` says the channel connection holds the permission to delete posts.
    """

    id: int
    photo_id: int
    channel: Channel
    live: bool
    person_ids: frozenset[int]
    url: str | None = None
    can_api_delete: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        object.__setattr__(self, "person_ids", frozenset(self.person_ids))


@dataclass(frozen=True)
class RemovalTaskPlan:
    """A removal task to open for one live publication."""

    publication_id: int
    method: RemovalMethod
    due_at: datetime


@dataclass(frozen=True)
class WithdrawalPlan:
    """Everything one withdrawal changes. Applying it and planning again gives an empty plan.

    ``withdraw`` lists (consent id, channel) pairs to mark withdrawn at the withdrawal moment;
    ``withdraw_biometric`` the consent ids whose biometric agreement ends then.
    """

    person_id: int
    at: datetime
    channels: frozenset[Channel]
    withdraw: tuple[tuple[int, Channel], ...]
    withdraw_biometric: tuple[int, ...]
    block_queue_item_ids: tuple[int, ...]
    removal_tasks: tuple[RemovalTaskPlan, ...]
    delete_templates: bool

    @property
    def changed(self) -> bool:
        """Tell whether carrying out this plan changes anything."""
        return bool(
            self.withdraw
            or self.withdraw_biometric
            or self.block_queue_item_ids
            or self.removal_tasks
            or self.delete_templates
        )


def validate_removal_due(removal_due: timedelta) -> timedelta:
    """Return ``removal_due`` if it is a lawful removal deadline, else raise ValueError."""
    if removal_due <= timedelta(0):
        raise ValueError(f"the removal deadline must be positive, got {removal_due}")
    if removal_due > MAX_REMOVAL_DUE:
        raise ValueError(
            f"the removal deadline may be at most one month (31 days), got {removal_due.days} days"
        )
    return removal_due


def plan_withdrawal(
    person_id: int,
    channels: frozenset[Channel],
    withdraw_biometric: bool,
    at: datetime,
    consents: Sequence[Consent],
    queue_items: Sequence[QueueItemView],
    publications: Sequence[PublicationView],
    existing_task_publication_ids: frozenset[int],
    api_delete_channels: frozenset[Channel],
    removal_due: timedelta = DEFAULT_REMOVAL_DUE,
) -> WithdrawalPlan:
    """Plan the withdrawal of ``person_id``'s consent for ``channels`` (empty means all) at ``at``.

    The person's request decides what is taken down, whether or not a record covered the
    channel: every queued item that could still go out (ready or scheduled) showing the person
    on a withdrawn channel is blocked, and every live publication showing them there gets a
    removal task, unless one exists already. The task uses the API when the connection may
    delete and the channel is in ``api_delete_channels``; otherwise it is a manual step.
    A withdrawal dated later on a record is brought forward to ``at``.
    """
    require_aware(at, "at")
    validate_removal_due(removal_due)
    targets = frozenset(Channel(c) for c in channels) or frozenset(Channel)
    own = sorted((c for c in consents if c.person_id == person_id), key=lambda c: c.id)
    biometric = [c.id for c in own if c.biometric_active(at)] if withdraw_biometric else []
    tasks = _removal_tasks(
        person_id,
        targets,
        publications,
        existing_task_publication_ids,
        api_delete_channels,
        at + removal_due,
    )
    return WithdrawalPlan(
        person_id=person_id,
        at=at,
        channels=targets,
        withdraw=_channels_to_withdraw(own, targets, at),
        withdraw_biometric=tuple(biometric),
        block_queue_item_ids=_items_to_block(person_id, targets, queue_items),
        removal_tasks=tasks,
        delete_templates=bool(biometric),
    )


def _channels_to_withdraw(
    own: Sequence[Consent], targets: frozenset[Channel], at: datetime
) -> tuple[tuple[int, Channel], ...]:
    """(consent id, channel) of each target channel still standing, or withdrawn after ``at``."""
    withdraw: list[tuple[int, Channel]] = []
    for consent in own:
        for channel in sorted(targets & consent.channels.keys()):
            withdrawn_at = consent.channels[channel]
            if withdrawn_at is None or withdrawn_at > at:
                withdraw.append((consent.id, channel))
    return tuple(withdraw)


def _items_to_block(
    person_id: int, targets: frozenset[Channel], queue_items: Sequence[QueueItemView]
) -> tuple[int, ...]:
    """Queued items that could still go out showing the person on a withdrawn channel."""
    return tuple(
        sorted(
            {
                item.id
                for item in queue_items
                if item.status in _BLOCKABLE
                and person_id in item.person_ids
                and item.channels & targets
            }
        )
    )


def _removal_tasks(
    person_id: int,
    targets: frozenset[Channel],
    publications: Sequence[PublicationView],
    existing: frozenset[int],
    api_delete_channels: frozenset[Channel],
    due_at: datetime,
) -> tuple[RemovalTaskPlan, ...]:
    """One task per live publication showing the person on a withdrawn channel, none twice."""
    tasks: dict[int, RemovalTaskPlan] = {}
    for pub in sorted(publications, key=lambda p: p.id):
        if (
            pub.live
            and person_id in pub.person_ids
            and pub.channel in targets
            and pub.id not in existing
            and pub.id not in tasks
        ):
            api = pub.can_api_delete and pub.channel in api_delete_channels
            method: RemovalMethod = "api" if api else "manual"
            tasks[pub.id] = RemovalTaskPlan(pub.id, method, due_at)
    return tuple(tasks.values())
