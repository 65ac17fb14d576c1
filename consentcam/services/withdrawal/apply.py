"""Carry out a withdrawal in the caller's transaction: load the rows, ask the domain, apply its plan."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import Channel, utc_day
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
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.gate import consents_for
from consentcam.services.withdrawal.result import OpenedTask, WithdrawalResult

if TYPE_CHECKING:
    from consentcam.publishers.base import Publisher

log = logging.getLogger(__name__)

# Queue items in these states could still go out; the domain rule blocks only these.
_OPEN_QUEUE = ("ready", "scheduled")

PublisherLookup = Callable[[so.Session, Runtime, str], "Publisher"]


def removal_due(rt: Runtime) -> timedelta:
    """The deadline for taking a post down, from the REMOVAL_DUE_DAYS setting (1 to 31 days)."""
    return timedelta(days=int(rt.settings.get("REMOVAL_DUE_DAYS") or 7))


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


@dataclass(frozen=True)
class _Scene:
    """The rows a withdrawal acts on, and the plan the domain made from them."""

    queue_rows: list[QueueItem]
    pubs: list[Publication]
    plan: WithdrawalPlan


@dataclass(frozen=True)
class _Who:
    """Who withdrew: a user (id and e-mail), or a name alone (the customer on their own page)."""

    user_id: int | None
    name: str | None


def apply_withdrawal(
    session: so.Session,
    rt: Runtime,
    person: Person,
    targets: frozenset[Channel],
    biometric: bool,
    actor: User | None,
    at: datetime,
    publisher_lookup: PublisherLookup | None,
    name: str | None = None,
) -> tuple[WithdrawalResult, list[str]]:
    """Write the withdrawal (flushed, not committed); returns it and the files to delete after
    the commit."""
    pid = person.id
    scene = _scene(session, rt, pid, targets, biometric, at, publisher_lookup)
    plan = scene.plan
    # The log names who withdrew: a user, or ``name`` (the customer through their own link).
    who = _Who(actor.id, actor.email) if actor else _Who(None, name)
    # 1. Consent ends at once for the named channels.
    _end_consent(session, pid, targets, plan, at, who)
    # 2. Every queued post that still needs the consent is stopped.
    _block_queue(session, person, plan, scene.queue_rows, at, who.name)
    # 3. One removal task per live post that shows the person on a withdrawn channel.
    opened = _open_removal_tasks(session, pid, plan, scene.pubs, at, who.name)
    # 4. Without biometric consent no template of the person may remain.
    refs, templates, files = (
        _delete_templates(session, pid, at, who.name) if biometric else (0, 0, [])
    )
    result = WithdrawalResult(
        person_id=pid,
        at=at,
        channels=tuple(sorted(c.value for c in targets)),
        withdrawn=tuple((c, ch.value) for c, ch in plan.withdraw),
        biometric_withdrawn=tuple(plan.withdraw_biometric),
        blocked_queue_item_ids=tuple(plan.block_queue_item_ids),
        tasks=tuple(opened),
        references_deleted=refs,
        face_templates_deleted=templates,
    )
    if result.changed:
        person.last_activity_at = at
    session.flush()
    return result, files


def _scene(
    session: so.Session,
    rt: Runtime,
    pid: int,
    targets: frozenset[Channel],
    biometric: bool,
    at: datetime,
    publisher_lookup: PublisherLookup | None,
) -> _Scene:
    """Load what the withdrawal may touch and let the domain plan it."""
    consents = consents_for(session, [pid]).get(pid, [])
    photo_ids = sa.select(Face.photo_id).where(Face.person_id == pid)
    queue_rows = list(
        session.scalars(
            sa.select(QueueItem).where(
                QueueItem.status.in_(_OPEN_QUEUE), QueueItem.photo_id.in_(photo_ids)
            )
        )
    )
    pubs = list(
        session.scalars(
            sa.select(Publication).where(
                Publication.live.is_(True), Publication.id.in_(shown_publication_ids(pid))
            )
        )
    )
    pub_views = _publication_views(pid, pubs)
    existing = frozenset(
        session.scalars(
            sa.select(RemovalTask.publication_id).where(
                RemovalTask.publication_id.in_([p.id for p in pubs])
            )
        )
    )
    wanted = {p.channel.value for p in pub_views if p.channel in targets and p.id not in existing}
    plan = plan_withdrawal(
        pid,
        targets,
        biometric,
        at,
        consents,
        _queue_views(pid, queue_rows),
        pub_views,
        existing,
        api_delete_channels(session, rt, wanted, publisher_lookup),
        removal_due(rt),
    )
    if not targets:
        # Automatic recognition alone: the domain reads "no channels" as all, so keep only
        # the biometric part of its plan.
        plan = replace(
            plan, channels=frozenset(), withdraw=(), block_queue_item_ids=(), removal_tasks=()
        )
    return _Scene(queue_rows, pubs, plan)


def _queue_views(pid: int, rows: list[QueueItem]) -> list[QueueItemView]:
    return [
        QueueItemView(
            id=q.id,
            photo_id=q.photo_id,
            channels=frozenset(
                Channel(c) for c in q.channel_list if c in Channel._value2member_map_
            ),
            status=q.status,
            person_ids=frozenset({pid}),
        )
        for q in rows
    ]


def _publication_views(pid: int, pubs: list[Publication]) -> list[PublicationView]:
    return [
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


def _end_consent(
    session: so.Session,
    pid: int,
    targets: frozenset[Channel],
    plan: WithdrawalPlan,
    at: datetime,
    who: _Who,
) -> None:
    """Mark the planned channels and biometric agreements withdrawn, and log it."""
    if plan.withdraw:
        rows = session.scalars(
            sa.select(ConsentChannel).where(
                ConsentChannel.consent_id.in_({c for c, _ in plan.withdraw})
            )
        )
        wanted_pairs = {(c, ch.value) for c, ch in plan.withdraw}
        for row in rows:
            if (row.consent_id, row.channel) in wanted_pairs:
                row.withdrawn_at = at
                row.withdrawn_by_id = who.user_id
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
            actor=who.name,
            at=at,
        )


def _block_queue(
    session: so.Session,
    person: Person,
    plan: WithdrawalPlan,
    queue_rows: list[QueueItem],
    at: datetime,
    actor_name: str | None,
) -> None:
    """Block each planned queue item, with a reason per face of the person and channel."""
    by_id = {q.id: q for q in queue_rows}
    blocked_photo_ids = {by_id[i].photo_id for i in plan.block_queue_item_ids}
    faces_on: dict[int, list[tuple[int | None, int | None]]] = {}
    if blocked_photo_ids:
        for face_id, photo_id, number in session.execute(
            sa.select(Face.id, Face.photo_id, Face.number)
            .where(Face.person_id == person.id, Face.photo_id.in_(blocked_photo_ids))
            .order_by(Face.photo_id, Face.number)
        ):
            faces_on.setdefault(photo_id, []).append((face_id, number))
    withdrawn = {t.value for t in plan.channels}
    for item_id in plan.block_queue_item_ids:
        item = by_id[item_id]
        reasons = _blockers(item.blockers)
        reasons.extend(
            _withdrawn_entries(
                person,
                faces_on.get(item.photo_id) or [(None, None)],
                [c for c in item.channel_list if c in withdrawn],
                at,
            )
        )
        item.status = "blocked"
        item.blockers = json.dumps(reasons, ensure_ascii=False)
        events.record(
            session,
            "queue.blocked",
            f"queue_item:{item.id}",
            {"person": person.id, "reason": "consent_withdrawn"},
            actor=actor_name,
            at=at,
        )


def _open_removal_tasks(
    session: so.Session,
    pid: int,
    plan: WithdrawalPlan,
    pubs: list[Publication],
    at: datetime,
    actor_name: str | None,
) -> list[OpenedTask]:
    """Open the planned removal tasks, each with its event."""
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
    return opened


def _delete_templates(
    session: so.Session, pid: int, at: datetime, actor_name: str | None
) -> tuple[int, int, list[str]]:
    """Delete the person's reference faces and every face template made for them.

    Returns (references deleted, templates cleared, the reference files to delete once the rows
    are committed away).
    """
    refs = session.scalars(sa.select(ReferenceFace).where(ReferenceFace.person_id == pid)).all()
    files = [ref.source_key for ref in refs if ref.source_key]
    for ref in refs:
        session.delete(ref)
    faces = session.scalars(
        sa.select(Face).where(
            sa.or_(Face.person_id == pid, Face.suggested_person_id == pid),
            Face.template.is_not(None),
        )
    ).all()
    for face in faces:
        face.template = None
    if refs or faces:
        events.record(
            session,
            "templates.deleted",
            f"person:{pid}",
            {"references": len(refs), "face_templates": len(faces)},
            actor=actor_name,
            at=at,
        )
    return len(refs), len(faces), files


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
