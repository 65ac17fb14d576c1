"""Where each photo stands, stored with the photo and kept in step with every write.

The photo list, its filter counts and the start page read a photo's review state, face counts
and per-channel verdicts (`Photo.review_state`, `face_count`, `undecided_faces`,
`PhotoChannelState`) instead of asking the gate about every photo on every view. They are
worked out by the domain (`domain.standing`, which asks the gate itself) and written in the
same unit of work as the change that moves them:

- Every flush notes what it changed that a standing depends on: a photo's scan, confirmation or
  supplier; a face's decision, person or blur; a consent, its channels or listed photos; a
  supplier's permission. Before the unit of work commits, the photos concerned are worked out
  again (`settle`), whichever service made the change. A service that changes rows with a
  bulk UPDATE, which no flush sees, names the photos itself (`mark`).
- A verdict may change with the clock alone (a consent expires, a permission starts): each
  photo stores until when its verdicts hold (`gate_due_at`). A periodic job works out the
  photos whose time has come, and until it has, readers work those few out themselves
  (`due_standings`), so a page is never behind the clock.

- The photo counters (services.photo_tally) move with what is stored: a photo added or deleted,
  and each photo worked out again, from its old review state and verdict rows (read afresh
  under the lock) to its new ones; the sums are written once, when the unit of work commits.

On PostgreSQL the photos are locked while they are worked out, so two transactions that change
what one photo depends on work it out one after the other, the second from the first's result.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.standing import Standing, standing
from consentcam.domain.types import Channel
from consentcam.models import (
    ConsentChannel,
    ConsentPhoto,
    ConsentRecord,
    Face,
    Photo,
    PhotoChannelState,
    SupplierPermission,
    SupplierPermissionChannel,
    utcnow,
)
from consentcam.services import gate, photo_tally
from consentcam.uow import unit_of_work

if TYPE_CHECKING:
    from consentcam.runtime import Runtime

log = logging.getLogger(__name__)

#: Where a session keeps what its unit of work changed, until the photos are worked out.
MARKS = "consentcam.photo_state"

#: Photos worked out per statement (and per unit of work in the periodic job).
BATCH = 500

#: The periodic job stops after this long and leaves the rest to its next run.
JOB_SECONDS = 50.0


@dataclass
class Marks:
    """What changed in one unit of work that some photo's standing depends on."""

    photos: set[int] = field(default_factory=set)
    people: set[int] = field(default_factory=set)
    consents: set[int] = field(default_factory=set)
    suppliers: set[int] = field(default_factory=set)
    permissions: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.photos or self.people or self.consents or self.suppliers or self.permissions
        )


def _marks(session: so.Session) -> Marks:
    marks: Marks = session.info.setdefault(MARKS, Marks())
    return marks


def mark(
    session: so.Session,
    *,
    photos: Iterable[int] = (),
    people: Iterable[int] = (),
    suppliers: Iterable[int] = (),
) -> None:
    """Note photos (or the photos of people, or of suppliers) whose standing a change moved,
    for a change no flush sees (a bulk UPDATE); they are worked out before the commit."""
    marks = _marks(session)
    marks.photos.update(p for p in photos if p is not None)
    marks.people.update(p for p in people if p is not None)
    marks.suppliers.update(s for s in suppliers if s is not None)


def settle(session: so.Session, at: datetime | None = None) -> int:
    """Work out now the photos this unit of work changed so far; return how many there were.

    Runs by itself before every commit; call it to read the new standing before that.
    """
    session.flush()  # the flush notes its own changes
    marks: Marks | None = session.info.pop(MARKS, None)
    if not marks:
        return 0
    photo_ids = _photos_of(session, marks)
    refresh(session, photo_ids, at)
    session.flush()
    return len(photo_ids)


def _photos_of(session: so.Session, marks: Marks) -> set[int]:
    """Every photo the marks concern: named, of the people and of the suppliers."""
    ids = set(marks.photos)
    people = set(marks.people)
    if marks.consents:
        people |= set(
            session.scalars(
                sa.select(ConsentRecord.person_id).where(ConsentRecord.id.in_(marks.consents))
            )
        )
    suppliers = set(marks.suppliers)
    if marks.permissions:
        suppliers |= set(
            session.scalars(
                sa.select(SupplierPermission.supplier_id).where(
                    SupplierPermission.id.in_(marks.permissions)
                )
            )
        )
    if people:
        # Only a confirmed face names its person (a suggestion covers nothing).
        ids |= set(
            session.scalars(sa.select(Face.photo_id).where(Face.person_id.in_(people)).distinct())
        )
    if suppliers:
        ids |= set(session.scalars(sa.select(Photo.id).where(Photo.supplier_id.in_(suppliers))))
    return ids


def refresh(session: so.Session, photo_ids: Iterable[int], at: datetime | None = None) -> int:
    """Work out where the given photos stand now and store it; return how many were stored."""
    at = at or utcnow()
    wanted = sorted(set(photo_ids))
    done = 0
    for start in range(0, len(wanted), BATCH):
        photos = _locked(session, wanted[start : start + BATCH])
        rows: dict[int, dict[Channel, PhotoChannelState]] = defaultdict(dict)
        # Loaded afresh, like the photos: the counters move from what the rows hold now.
        for row in session.scalars(
            sa.select(PhotoChannelState)
            .where(PhotoChannelState.photo_id.in_(list(photos)))
            .execution_options(populate_existing=True)
        ):
            rows[row.photo_id][row.channel] = row
        for result in standings(session, photos.values(), at).values():
            _store(session, photos[result.photo_id], result, rows[result.photo_id])
            done += 1
        session.flush()
    return done


def _locked(session: so.Session, ids: Sequence[int]) -> dict[int, Photo]:
    """The photos with their faces as they are now, locked until the commit (PostgreSQL).

    Loaded afresh: a face added beside the photo's loaded list of faces must count.
    """
    rows = session.scalars(
        sa.select(Photo)
        .where(Photo.id.in_(ids))
        .order_by(Photo.id)
        .with_for_update(of=Photo)
        .options(so.selectinload(Photo.faces).defer(Face.template))
        .execution_options(populate_existing=True)
    )
    return {p.id: p for p in rows}


def standings(
    session: so.Session, photos: Iterable[Photo], at: datetime | None = None
) -> dict[int, Standing]:
    """Where each photo stands at ``at`` (now), worked out from its faces, the consents of its
    people and its supplier's permissions; nothing is written."""
    at = at or utcnow()
    photos = list(photos)
    person_ids = {f.person_id for p in photos for f in p.faces if f.person_id is not None}
    consents = gate.consents_for(session, person_ids)
    permissions = gate.supplier_permissions_for(session, (p.supplier_id for p in photos))
    return {p.id: standing(gate.photo_view(p), at, consents, permissions) for p in photos}


def _store(
    session: so.Session,
    photo: Photo,
    result: Standing,
    rows: dict[Channel, PhotoChannelState],
) -> None:
    """Write a standing on its photo: the columns, and the verdict rows that changed; the
    counters move with them (services.photo_tally)."""
    tally = photo_tally.move
    tally(
        session, photo_tally.review_key(photo.review_state), photo_tally.review_key(result.review)
    )
    photo.review_state = result.review
    photo.face_count = result.faces
    photo.undecided_faces = result.undecided
    photo.gate_due_at = result.due
    for channel, row in rows.items():
        if result.on(channel) is None:
            tally(session, photo_tally.verdict_key(channel, row.state), None)
            session.delete(row)
    for channel, state in result.channels.items():
        had = rows.get(channel)
        if had is None:
            tally(session, None, photo_tally.verdict_key(channel, state))
            session.add(
                PhotoChannelState(
                    photo_id=photo.id, channel=channel, state=state, uploaded_at=photo.uploaded_at
                )
            )
        else:
            if had.state != state:
                tally(
                    session,
                    photo_tally.verdict_key(channel, had.state),
                    photo_tally.verdict_key(channel, state),
                )
                had.state = state
            if had.uploaded_at != photo.uploaded_at:
                had.uploaded_at = photo.uploaded_at


def due_photos(session: so.Session, at: datetime | None = None) -> list[Photo]:
    """Photos whose stored verdicts no longer hold at ``at`` (the clock passed their time)."""
    return list(
        session.scalars(
            sa.select(Photo)
            .where(Photo.gate_due_at <= (at or utcnow()))
            .order_by(Photo.gate_due_at, Photo.id)  # along the index (id order would scan all)
            .options(so.selectinload(Photo.faces).defer(Face.template))
        )
    )


def due_standings(session: so.Session, at: datetime) -> dict[int, Standing]:
    """Where the photos whose stored verdicts ran out stand at ``at`` (usually none: the
    periodic job works them out within a minute); for readers, nothing is written."""
    due = due_photos(session, at)
    return standings(session, due, at) if due else {}


def refresh_due(rt: Runtime, batch: int = BATCH, seconds: float = JOB_SECONDS) -> int:
    """Work out the photos whose verdicts ran out, a batch per unit of work (the periodic job)."""
    started = time.monotonic()
    total = 0
    while time.monotonic() - started < seconds:
        # Looked for without the write lock: most minutes there is nothing to do.
        with rt.read_sessions() as reading:
            ids = list(
                reading.scalars(
                    sa.select(Photo.id)
                    .where(Photo.gate_due_at <= utcnow())
                    .order_by(Photo.gate_due_at, Photo.id)
                    .limit(batch)
                )
            )
        if not ids:
            break
        with unit_of_work(rt) as session:
            total += refresh(session, ids)
        if len(ids) < batch:
            break
    if total:
        log.info("worked out the standing of %d photos whose verdicts ran out", total)
    return total


def check_counts(rt: Runtime) -> dict[str, int]:
    """Compare the photo counters with the rows, and count again where they disagree (a writer
    that went around the ORM without calling `recount`); the disagreements, logged."""
    with unit_of_work(rt) as session:
        found = photo_tally.check(session)
    if found:
        log.warning(
            "the photo counters disagreed with the photos and were counted again: %s", found
        )
    return found


def register(jobs: Any) -> None:
    """Declare the periodic jobs on the worker's queue (consentcam.jobs.Jobs)."""
    from huey import crontab

    jobs.periodic("refresh_due_photos", crontab(minute="*"), refresh_due)
    jobs.periodic("check_photo_counts", crontab(minute="17"), check_counts)


# ---- Noting changes: every flush, whichever service made it.

#: Per model, the attributes a photo's standing depends on (None: any change counts).
_WATCHED: dict[type[Any], tuple[str, ...] | None] = {
    Photo: ("scan_state", "faces_confirmed_at", "supplier_id", "uploaded_at"),
    Face: ("state", "person_id", "blur", "not_identifiable_reason", "photo_id"),
    ConsentRecord: ("person_id", "scope", "given_at", "expires_at"),
    ConsentChannel: ("channel", "withdrawn_at", "consent_id"),
    ConsentPhoto: None,
    SupplierPermission: ("supplier_id", "valid_from", "valid_until", "revoked_at"),
    SupplierPermissionChannel: None,
}


def _value(obj: Any, name: str) -> Any:
    """An attribute's value without loading it (a deleted row cannot be loaded again)."""
    state = sa.inspect(obj)
    if name in state.dict:
        return state.dict[name]
    return state.committed_state.get(name)


def _changed(obj: Any, names: tuple[str, ...] | None) -> bool:
    if names is None:
        return True
    return any(so.attributes.get_history(obj, n).has_changes() for n in names)


def _note(marks: Marks, obj: Any) -> None:
    """Note what ``obj`` (new, changed or deleted) concerns."""
    if isinstance(obj, Photo):
        marks.photos.add(obj.id)
    elif isinstance(obj, Face | ConsentPhoto):
        marks.photos.add(_value(obj, "photo_id"))
        if isinstance(obj, Face):
            marks.photos.update(so.attributes.get_history(obj, "photo_id").deleted or ())
    elif isinstance(obj, ConsentRecord):
        marks.people.add(_value(obj, "person_id"))
        marks.people.update(so.attributes.get_history(obj, "person_id").deleted or ())
    elif isinstance(obj, ConsentChannel):
        marks.consents.add(_value(obj, "consent_id"))
    elif isinstance(obj, SupplierPermission):
        marks.suppliers.add(_value(obj, "supplier_id"))
    elif isinstance(obj, SupplierPermissionChannel):
        marks.permissions.add(_value(obj, "permission_id"))


@sa.event.listens_for(so.Session, "after_flush")
def _collect(session: so.Session, _context: Any) -> None:
    changed = [(o, True) for o in session.new] + [(o, True) for o in session.deleted]
    changed += [(o, False) for o in session.dirty]
    if not any(type(o) in _WATCHED for o, _ in changed):
        return
    marks = _marks(session)
    for obj in session.new:
        if isinstance(obj, Photo):  # a photo added counts under its review state
            photo_tally.note(session, photo_tally.review_key(obj.review_state), 1)
    for obj, whole in changed:
        watched = _WATCHED.get(type(obj), ())
        if watched == ():
            continue
        if whole or _changed(obj, watched):
            _note(marks, obj)
    for ids in (marks.photos, marks.people, marks.consents, marks.suppliers, marks.permissions):
        ids.discard(None)


@sa.event.listens_for(so.Session, "before_flush")
def _photos_leaving(session: so.Session, _context: Any, _instances: Any) -> None:
    gone = [o.id for o in session.deleted if isinstance(o, Photo)]
    if not gone:
        return
    # A photo deleted leaves its counters, as it stands now (locked until the commit).
    for (review,) in session.execute(
        sa.select(Photo.review_state).where(Photo.id.in_(gone)).with_for_update()
    ):
        photo_tally.note(session, photo_tally.review_key(review), -1)
    for channel, state in session.execute(
        sa.select(PhotoChannelState.channel, PhotoChannelState.state).where(
            PhotoChannelState.photo_id.in_(gone)
        )
    ):
        photo_tally.note(session, photo_tally.verdict_key(channel, state), -1)


@sa.event.listens_for(so.Session, "before_commit")
def _before_commit(session: so.Session) -> None:
    settle(session)  # also when a savepoint is released
    if not session.in_nested_transaction():
        # Last, and once: the counters' row locks are the last a unit of work takes.
        photo_tally.apply(session)


@sa.event.listens_for(so.Session, "after_transaction_end")
def _after_transaction_end(session: so.Session, transaction: so.SessionTransaction) -> None:
    # A unit of work that ends without its commit (rolled back) takes its marks with it.
    if transaction.parent is None:
        session.info.pop(MARKS, None)
