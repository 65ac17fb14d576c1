"""Removal tasks: delete posts through the API in the background, or close manual steps by hand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.types import RemovalMethod, RemovalStatus
from consentcam.models import Person, Publication, RemovalTask, User, utcnow
from consentcam.runtime import Runtime, TaskQueue
from consentcam.services import events
from consentcam.uow import unit_of_work
from consentcam.wording import N_, WordedError

if TYPE_CHECKING:
    from consentcam.publishers.base import Publisher

log = logging.getLogger(__name__)

AUTOMATIC = "automatic deletion"
# Retries of an API deletion: 1, 2, 4, 8, 16 minutes apart, then the owner takes over.
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 60

STATUSES = ("open", "overdue", "done")

PublisherLookup = Callable[[so.Session, Runtime, str], "Publisher"]


class RemovalError(WordedError, ValueError):
    """A request about a removal task that cannot be carried out; the message says why."""


def retry_delay(attempts: int) -> int:
    """Seconds to wait before the next try after ``attempts`` failed ones (doubling each time)."""
    return int(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0))


def is_overdue(task: RemovalTask, now: datetime | None = None) -> bool:
    return task.status == "open" and task.due_at <= (now or utcnow())


def task_query(
    status: str | None = None, now: datetime | None = None
) -> sa.Select[RemovalTask, Publication, str]:
    """Tasks with their publication and person, overdue first, then by due date.

    ``status`` is open, overdue (open and past due), done, or None for all.
    """
    return tasks_by(status, now or utcnow())


def tasks_by(status: str | None, now: Any) -> sa.Select[RemovalTask, Publication, str]:
    """``task_query`` with ``now`` a moment or a bound parameter (a statement built once)."""
    query = (
        sa.select(RemovalTask, Publication, Person.name)
        .join(Publication, RemovalTask.publication_id == Publication.id)
        .outerjoin(Person, RemovalTask.person_id == Person.id)
    )
    if status == "open":
        query = query.where(RemovalTask.status == "open")
    elif status == "overdue":
        query = query.where(RemovalTask.status == "open", RemovalTask.due_at <= now)
    elif status == "done":
        query = query.where(RemovalTask.status == "done")
    elif status is not None:
        raise RemovalError(
            N_("unknown status %(status)r (use %(allowed)s)"),
            status=status,
            allowed=", ".join(STATUSES),
        )
    if status == "done":
        return query.order_by(RemovalTask.closed_at.desc(), RemovalTask.id.desc())
    return query.order_by(
        (RemovalTask.status != "open"),
        sa.case((RemovalTask.due_at <= now, 0), else_=1),
        RemovalTask.due_at,
        RemovalTask.id,
    )


@dataclass(frozen=True)
class RemovalCounts:
    open: int
    overdue: int
    done: int


def counts(
    session: so.Session, now: datetime | None = None, person_id: int | None = None
) -> RemovalCounts:
    """Open, overdue and done tasks in one query (of one person's, when ``person_id`` is given,
    so the filter's counts match the list it shows)."""
    now = now or utcnow()
    is_open = RemovalTask.status == "open"
    query = sa.select(
        sa.func.count().filter(is_open),
        sa.func.count().filter(is_open, RemovalTask.due_at <= now),
        sa.func.count().filter(RemovalTask.status == "done"),
    ).select_from(RemovalTask)
    if person_id is not None:
        query = query.where(RemovalTask.person_id == person_id)
    row = session.execute(query).one()
    return RemovalCounts(open=int(row[0]), overdue=int(row[1]), done=int(row[2]))


#: The menu's badge asks this on every page: the statement is built once.
_OVERDUE_COUNT = (
    sa.select(sa.func.count())
    .select_from(RemovalTask)
    .where(RemovalTask.status == "open", RemovalTask.due_at <= sa.bindparam("now"))
)


def overdue_count(session: so.Session, now: datetime | None = None) -> int:
    return int(session.scalar(_OVERDUE_COUNT, {"now": now or utcnow()}) or 0)


def task_row(
    session: so.Session, task_id: int
) -> tuple[RemovalTask, Publication, str | None] | None:
    """One task with its publication and its person's name (None when there is no such task)."""
    row = session.execute(task_query(None).where(RemovalTask.id == task_id)).first()
    if row is None:
        return None
    return row[0], row[1], row[2]


@dataclass(frozen=True)
class TaskPage:
    """One page of the removal list and what its filter shows."""

    rows: list[tuple[RemovalTask, Publication, str | None]]
    counts: RemovalCounts  # of the person's tasks when the list is one person's
    overdue: int  # everyone's overdue tasks (the menu's badge), whatever the list shows
    person: Person | None


def task_page(
    session: so.Session,
    status: str | None,
    *,
    person_id: int | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> TaskPage:
    """The first ``limit`` tasks of a status (None: all), of one person's when ``person_id``."""
    now = now or utcnow()
    query = task_query(status, now)
    person = None
    if person_id:
        person = session.get(Person, person_id)
        query = query.where(RemovalTask.person_id == person_id)
    rows: list[tuple[RemovalTask, Publication, str | None]] = [
        (r[0], r[1], r[2]) for r in session.execute(query.limit(limit)).all()
    ]
    counts_shown = counts(session, now, person_id or None)
    overdue = counts(session, now).overdue if person_id else counts_shown.overdue
    return TaskPage(rows, counts_shown, overdue, person)


def _take_down(session: so.Session, task: RemovalTask, at: datetime) -> None:
    pub = task.publication
    if pub.live:
        pub.live = False
        pub.removed_at = at
        events.record(
            session,
            "publication.removed",
            f"publication:{pub.id}",
            {"channel": pub.channel, "removal_task": task.id},
            actor=task.closed_by_name,
            at=at,
        )


def close_task(
    session: so.Session,
    task: RemovalTask,
    user: User,
    note: str | None = None,
    at: datetime | None = None,
) -> RemovalTask:
    """Record that ``user`` took the post down: closes the task and marks the post not live."""
    if task.status == "done":
        raise RemovalError(N_("removal task %(task)s was already closed"), task=task.id)
    at = at or utcnow()
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise RemovalError(N_("the note may be at most 2000 characters"))
    task.status = RemovalStatus.DONE
    task.closed_at = at
    task.closed_by_id = user.id
    task.closed_by_name = user.name
    task.note = note
    _take_down(session, task, at)
    events.record(
        session,
        "removal.closed",
        f"removal_task:{task.id}",
        {"publication": task.publication_id, "method": task.method, "note": note},
        actor=user.email,
        at=at,
    )
    session.flush()
    return task


def _to_manual(session: so.Session, task: RemovalTask, error: str) -> None:
    task.method = RemovalMethod.MANUAL
    task.last_error = error
    events.record(
        session,
        "removal.manual",
        f"removal_task:{task.id}",
        {"publication": task.publication_id, "error": error, "attempts": task.attempts},
        actor=AUTOMATIC,
    )


def delete_publication(
    session: so.Session,
    rt: Runtime,
    task_id: int,
    *,
    publisher_lookup: PublisherLookup | None = None,
) -> int | None:
    """Try once to delete the task's post through the API.

    Returns the seconds to wait before trying again, or None when there is nothing more to do
    (deleted, already closed, or handed to the owner as a manual step with the error shown).
    The caller's unit of work commits the task's new state (and queues the retry after it).
    """
    from consentcam.services.withdrawal import default_publisher_lookup

    task = session.get(RemovalTask, task_id)
    if task is None or task.status != "open" or task.method != "api":
        return None
    retry: int | None = None
    if not task.publication.live:
        # Someone took it down another way; the task has nothing left to do.
        _close_automatically(session, task, utcnow(), {"note": "already down"})
    elif not task.publication.external_id:
        _to_manual(
            session,
            task,
            "The post has no id at the channel, so it cannot be deleted automatically.",
        )
    else:
        retry = _try_delete(session, rt, task, publisher_lookup or default_publisher_lookup)
    session.flush()
    return retry


def _try_delete(
    session: so.Session, rt: Runtime, task: RemovalTask, lookup: PublisherLookup
) -> int | None:
    """One API deletion of the task's post; the seconds before the next try, or None."""
    from consentcam.publishers.base import PublisherError

    pub = task.publication
    assert pub.external_id is not None  # checked by the caller
    task.attempts += 1
    try:
        result = lookup(session, rt, pub.channel).delete(pub.channel, pub.external_id)
    except PublisherError as exc:
        task.last_error = str(exc)
        if exc.retryable and task.attempts < MAX_ATTEMPTS:
            return retry_delay(task.attempts)
        _to_manual(session, task, str(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - a network fault must not lose the task
        log.exception("deleting publication %s failed", pub.id)
        task.last_error = f"{type(exc).__name__}: {exc}"
        if task.attempts < MAX_ATTEMPTS:
            return retry_delay(task.attempts)
        _to_manual(session, task, task.last_error)
        return None
    if result.deleted:
        at = utcnow()
        task.last_error = None
        task.closed_by_name = AUTOMATIC  # who took the post down, in its event
        _take_down(session, task, at)
        _close_automatically(session, task, at, {"attempts": task.attempts})
    else:
        _to_manual(session, task, result.message or "The channel did not delete the post.")
    return None


def _close_automatically(
    session: so.Session, task: RemovalTask, at: datetime, details: dict[str, Any]
) -> None:
    """Close an API task whose post is down, with its `removal.closed` event."""
    task.status = RemovalStatus.DONE
    task.closed_at = at
    task.closed_by_name = AUTOMATIC
    events.record(
        session,
        "removal.closed",
        f"removal_task:{task.id}",
        {"publication": task.publication_id, "method": "api", **details},
        actor=AUTOMATIC,
        at=at,
    )


def register(jobs: TaskQueue) -> None:
    """Declare the removal task on the job queue (`consentcam.jobs.Jobs`)."""

    @jobs.task("delete_publication")
    def delete_publication_task(rt: Runtime, task_id: int) -> None:
        with unit_of_work(rt) as session:
            delay = delete_publication(session, rt, task_id)
        if delay is not None:
            # Queued again once the attempt is committed, with a growing delay rather than
            # huey's fixed retry_delay.
            jobs.schedule("delete_publication", (task_id,), delay)


def open_api_task_ids(session: so.Session) -> list[int]:
    """Open removals the API is to carry out."""
    return list(
        session.scalars(
            sa.select(RemovalTask.id).where(
                RemovalTask.status == "open", RemovalTask.method == "api"
            )
        ).all()
    )


def requeue_open_api_tasks(rt: Runtime) -> int:
    """Queue again every open API removal (a worker stopped, a job lost)."""
    with rt.sessions() as session:
        ids = open_api_task_ids(session)
    for task_id in ids:
        rt.queue().enqueue("delete_publication", task_id)
    return len(ids)
