"""Withdraw a person's consent in one transaction: end it, block the queue, open removal tasks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain import vocabulary
from consentcam.domain.types import Channel, QueueStatus, utc_day
from consentcam.domain.withdrawal import (
    PublicationView,
    QueueItemView,
    WithdrawalPlan,
    plan_withdrawal,
)
from consentcam.models import (
    ConsentChannel,
    ConsentRecord,
    Face,
    Person,
    Publication,
    PublicationFace,
    PublicLink,
    QueueItem,
    ReferenceFace,
    RemovalTask,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.gate import consents_for
from consentcam.wording import N_, WordedError

if TYPE_CHECKING:
    from consentcam.publishers.base import Publisher

log = logging.getLogger(__name__)

# Queue items in these states could still go out; the domain rule blocks only these.
_OPEN_QUEUE = ("ready", "scheduled")

PublisherLookup = Callable[[so.Session, Runtime, str], "Publisher"]


class WithdrawalError(WordedError, ValueError):
    """A withdrawal request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class OpenedTask:
    """A removal task this withdrawal opened."""

    id: int
    publication_id: int
    channel: str
    method: str
    url: str | None
    due_at: datetime


@dataclass(frozen=True)
class WithdrawalResult:
    """What one withdrawal changed; an empty result means it had all been done before."""

    person_id: int
    at: datetime
    channels: tuple[str, ...]
    withdrawn: tuple[tuple[int, str], ...]
    biometric_withdrawn: tuple[int, ...]
    blocked_queue_item_ids: tuple[int, ...]
    tasks: tuple[OpenedTask, ...]
    references_deleted: int
    face_templates_deleted: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.withdrawn
            or self.biometric_withdrawn
            or self.blocked_queue_item_ids
            or self.tasks
            or self.references_deleted
            or self.face_templates_deleted
        )

    @property
    def api_tasks(self) -> tuple[OpenedTask, ...]:
        return tuple(t for t in self.tasks if t.method == "api")

    @property
    def manual_tasks(self) -> tuple[OpenedTask, ...]:
        return tuple(t for t in self.tasks if t.method == "manual")

    @property
    def due_at(self) -> datetime | None:
        return min((t.due_at for t in self.tasks), default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "at": self.at.isoformat(),
            "channels": list(self.channels),
            "changed": self.changed,
            "withdrawn": [{"consent_id": c, "channel": ch} for c, ch in self.withdrawn],
            "biometric_withdrawn": list(self.biometric_withdrawn),
            "blocked_queue_item_ids": list(self.blocked_queue_item_ids),
            "removal_tasks": [
                {
                    "id": t.id,
                    "publication_id": t.publication_id,
                    "channel": t.channel,
                    "method": t.method,
                    "url": t.url,
                    "due_at": t.due_at.isoformat(),
                }
                for t in self.tasks
            ],
            "references_deleted": self.references_deleted,
            "face_templates_deleted": self.face_templates_deleted,
        }


def removal_due(rt: Runtime) -> timedelta:
    """The deadline for taking a post down, from the REMOVAL_DUE_DAYS setting (1 to 31 days)."""
    return timedelta(days=int(rt.settings.get("REMOVAL_DUE_DAYS") or 7))


def parse_channels(value: Any) -> frozenset[Channel]:
    """Read the channels to withdraw: "all", or a list of channel names (empty: none)."""
    if value is None or value == "all":
        return frozenset(Channel)
    if not isinstance(value, str | list | tuple | set | frozenset):
        raise WithdrawalError(N_('channels must be "all" or a list of channel names'))
    return frozenset(vocabulary.parse_channels(value, WithdrawalError))


def default_publisher_lookup(session: so.Session, rt: Runtime, channel: str) -> Publisher:
    from consentcam.publishers.registry import get_publisher

    return get_publisher(session, rt, channel)


def api_delete_channels(
    session: so.Session,
    rt: Runtime,
    channels: Iterable[str],
    lookup: PublisherLookup | None = None,
) -> frozenset[Channel]:
    """The channels whose connection may delete posts through the API right now."""
    from consentcam.publishers.base import PublisherError

    lookup = lookup or default_publisher_lookup
    out: set[Channel] = set()
    for channel in sorted(set(channels)):
        try:
            if lookup(session, rt, channel).can_delete(channel):
                out.add(Channel(channel))
        except PublisherError as exc:
            # An unfinished connection cannot delete anything: the owner removes the post by hand.
            log.info("removal on %s falls back to a manual step: %s", channel, exc)
    return frozenset(out)


def shown_publication_ids(person_id: int) -> sa.Select[int]:
    """Publications that show the person: as recorded when published, or on their photo now."""
    on_photo = sa.select(Face.photo_id).where(Face.person_id == person_id)
    recorded = sa.select(PublicationFace.publication_id).where(
        PublicationFace.person_id == person_id
    )
    return sa.select(Publication.id).where(
        sa.or_(Publication.id.in_(recorded), Publication.photo_id.in_(on_photo))
    )


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

    Everything is written in one transaction and committed durably before this returns; if any
    step fails nothing is applied. Doing it again changes nothing and opens nothing new.
    API deletions are queued as background jobs after the commit. ``actor_name`` names who
    withdrew in the event log when no user did (the customer on their own page).
    """
    targets = parse_channels(channels)
    if not targets and not biometric:
        raise WithdrawalError(N_("choose the channels to withdraw, or automatic recognition"))
    at = at or utcnow()
    try:
        result, plan, files = _apply(
            session, rt, person, targets, biometric, actor, at, publisher_lookup, actor_name
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    # Files go only once the rows that point to them are gone for good.
    for key in files:
        try:
            rt.storage.delete(key)
        except OSError:
            log.exception("could not delete reference image %s", key)
    if enqueue and result.api_tasks and rt.jobs is not None:
        for task in result.api_tasks:
            rt.jobs.enqueue("delete_publication", task.id)
    return result


def _apply(
    session: so.Session,
    rt: Runtime,
    person: Person,
    targets: frozenset[Channel],
    biometric: bool,
    actor: User | None,
    at: datetime,
    publisher_lookup: PublisherLookup | None,
    name: str | None = None,
) -> tuple[WithdrawalResult, WithdrawalPlan, list[str]]:
    pid = person.id
    consents = consents_for(session, [pid]).get(pid, [])

    photo_ids = sa.select(Face.photo_id).where(Face.person_id == pid)
    queue_rows = session.scalars(
        sa.select(QueueItem).where(
            QueueItem.status.in_(_OPEN_QUEUE), QueueItem.photo_id.in_(photo_ids)
        )
    ).all()
    queue_views = [
        QueueItemView(
            id=q.id,
            photo_id=q.photo_id,
            channels=frozenset(
                Channel(c) for c in q.channel_list if c in Channel._value2member_map_
            ),
            status=q.status,
            person_ids=frozenset({pid}),
        )
        for q in queue_rows
    ]

    pubs = session.scalars(
        sa.select(Publication).where(
            Publication.live.is_(True), Publication.id.in_(shown_publication_ids(pid))
        )
    ).all()
    pub_views = [
        PublicationView(
            id=p.id,
            photo_id=p.photo_id,
            channel=Channel(p.channel),
            live=p.live,
            person_ids=frozenset({pid}),
            url=p.url,
            can_api_delete=bool(p.external_id) and p.publisher != "manual",
        )
        for p in pubs
        if p.channel in Channel._value2member_map_
    ]
    existing = frozenset(
        session.scalars(
            sa.select(RemovalTask.publication_id).where(
                RemovalTask.publication_id.in_([p.id for p in pubs])
            )
        ).all()
    )
    wanted = {p.channel.value for p in pub_views if p.channel in targets and p.id not in existing}
    api_channels = api_delete_channels(session, rt, wanted, publisher_lookup)

    plan = plan_withdrawal(
        pid,
        targets,
        biometric,
        at,
        consents,
        queue_views,
        pub_views,
        existing,
        api_channels,
        removal_due(rt),
    )
    if not targets:
        # Automatic recognition alone: the domain reads "no channels" as all, so keep only
        # the biometric part of its plan.
        plan = replace(
            plan, channels=frozenset(), withdraw=(), block_queue_item_ids=(), removal_tasks=()
        )
    # The log names who withdrew: a user, or ``name`` (the customer through their own link).
    actor_name = actor.email if actor else name
    actor_id = actor.id if actor else None

    # 1. Consent ends at once for the named channels.
    if plan.withdraw:
        rows = session.scalars(
            sa.select(ConsentChannel).where(
                ConsentChannel.consent_id.in_({c for c, _ in plan.withdraw})
            )
        ).all()
        wanted_pairs = {(c, ch.value) for c, ch in plan.withdraw}
        for row in rows:
            if (row.consent_id, row.channel) in wanted_pairs:
                row.withdrawn_at = at
                row.withdrawn_by_id = actor_id
    if plan.withdraw_biometric:
        for record in session.scalars(
            sa.select(ConsentRecord).where(ConsentRecord.id.in_(plan.withdraw_biometric))
        ):
            record.biometric_withdrawn_at = at
    if plan.withdraw:
        # Links Meta may still fetch a photo of this person from end in the same transaction.
        session.execute(
            sa.delete(PublicLink).where(
                PublicLink.photo_id.in_(sa.select(Face.photo_id).where(Face.person_id == pid))
            )
        )
    if plan.withdraw or plan.withdraw_biometric:
        events.record(
            session,
            "consent.withdrawn",
            f"person:{pid}",
            {
                "channels": sorted(c.value for c in targets),
                "withdrawn": [[c, ch.value] for c, ch in plan.withdraw],
                "biometric": list(plan.withdraw_biometric),
            },
            actor=actor_name,
            at=at,
        )

    # 2. Every queued post that still needs the consent is stopped.
    by_id = {q.id: q for q in queue_rows}
    blocked_photo_ids = {by_id[i].photo_id for i in plan.block_queue_item_ids}
    faces_on: dict[int, list[tuple[int | None, int | None]]] = {}
    if blocked_photo_ids:
        for face_id, photo_id, number in session.execute(
            sa.select(Face.id, Face.photo_id, Face.number)
            .where(Face.person_id == pid, Face.photo_id.in_(blocked_photo_ids))
            .order_by(Face.photo_id, Face.number)
        ):
            faces_on.setdefault(photo_id, []).append((face_id, number))
    for item_id in plan.block_queue_item_ids:
        item = by_id[item_id]
        reasons = _blockers(item.blockers)
        reasons.extend(
            _withdrawn_entries(
                person,
                faces_on.get(item.photo_id) or [(None, None)],
                [c for c in item.channel_list if c in {t.value for t in plan.channels}],
                at,
            )
        )
        item.status = QueueStatus.BLOCKED
        item.blockers = json.dumps(reasons, ensure_ascii=False)
        events.record(
            session,
            "queue.blocked",
            f"queue_item:{item.id}",
            {"person": pid, "reason": "consent_withdrawn"},
            actor=actor_name,
            at=at,
        )

    # 3. One removal task per live post that shows the person on a withdrawn channel.
    pub_by_id = {p.id: p for p in pubs}
    opened: list[OpenedTask] = []
    for planned in plan.removal_tasks:
        pub = pub_by_id[planned.publication_id]
        task = RemovalTask(
            publication_id=pub.id,
            person_id=pid,
            method=planned.method,
            status="open",
            due_at=planned.due_at,
            created_at=at,
        )
        session.add(task)
        session.flush()
        events.record(
            session,
            "removal.opened",
            f"removal_task:{task.id}",
            {
                "publication": pub.id,
                "person": pid,
                "channel": pub.channel,
                "method": planned.method,
                "due_at": planned.due_at,
            },
            actor=actor_name,
            at=at,
        )
        opened.append(
            OpenedTask(task.id, pub.id, pub.channel, planned.method, pub.url, planned.due_at)
        )

    # 4. Without biometric consent no template of the person may remain.
    refs_deleted = 0
    templates_cleared = 0
    files: list[str] = []
    if biometric:
        refs = session.scalars(sa.select(ReferenceFace).where(ReferenceFace.person_id == pid)).all()
        for ref in refs:
            if ref.source_key:
                files.append(ref.source_key)
            session.delete(ref)
        refs_deleted = len(refs)
        faces = session.scalars(
            sa.select(Face).where(
                sa.or_(Face.person_id == pid, Face.suggested_person_id == pid),
                Face.template.is_not(None),
            )
        ).all()
        for face in faces:
            face.template = None
        templates_cleared = len(faces)
        if refs_deleted or templates_cleared:
            events.record(
                session,
                "templates.deleted",
                f"person:{pid}",
                {"references": refs_deleted, "face_templates": templates_cleared},
                actor=actor_name,
                at=at,
            )

    result = WithdrawalResult(
        person_id=pid,
        at=at,
        channels=tuple(sorted(c.value for c in targets)),
        withdrawn=tuple((c, ch.value) for c, ch in plan.withdraw),
        biometric_withdrawn=tuple(plan.withdraw_biometric),
        blocked_queue_item_ids=tuple(plan.block_queue_item_ids),
        tasks=tuple(opened),
        references_deleted=refs_deleted,
        face_templates_deleted=templates_cleared,
    )
    if result.changed:
        person.last_activity_at = at
    session.flush()
    return result, plan, files


def _withdrawn_entries(
    person: Person,
    faces: list[tuple[int | None, int | None]],
    channels: list[str],
    at: datetime,
) -> list[dict[str, Any]]:
    """The reasons a withdrawal stops a queued item, in the gate's shape (one per face and channel)."""
    day = utc_day(at)
    entries = []
    for face_id, number in faces:
        head = f"Face {number} ({person.name})" if number is not None else person.name
        for channel in channels:
            entries.append(
                {
                    "code": "consent_withdrawn",
                    "message": f"{head}: consent for {Channel(channel).label} was withdrawn on {day}.",
                    "params": {"person": person.name, "date": day, "at": at.isoformat()},
                    "face": number,
                    "face_id": face_id,
                    "person_id": person.id,
                    "channel": channel,
                }
            )
    return entries


def _blockers(raw: str | None) -> list[Any]:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return list(value) if isinstance(value, list) else []
