"""The unit of work: one transaction that an entry point opens and one commit ends.

Views, API handlers, CLI commands and background jobs open a unit of work; the services they
call take its session, change rows and flush, and never commit. Background work a service
wants done after the change is handed to `later()`: it is queued only once the commit has
succeeded, so a task never sees rows that were rolled back, and a failed change queues nothing.
What must happen in this process after the commit (deleting files the rows pointed to) is
handed to `after_commit()`; what must be undone should the transaction not commit (a file
written ahead of the commit) is handed to `after_rollback()`.

    with unit_of_work(rt) as session:
        people.give_consent(session, rt, ...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

if TYPE_CHECKING:
    from consentcam.runtime import Runtime

log = logging.getLogger(__name__)

#: Where a session keeps the tasks to queue after its next commit.
AFTER_COMMIT = "consentcam.after_commit"
#: Where a session keeps the calls to make once its transaction has committed (file deletions).
AFTER_COMMIT_CALLS = "consentcam.after_commit_calls"
#: Where a session keeps the calls to make if its transaction ends without a commit.
AFTER_ROLLBACK_CALLS = "consentcam.after_rollback_calls"


def later(session: so.Session, task: str, *args: Any) -> None:
    """Queue background task `task(*args)` once this session's unit of work has committed."""
    session.info.setdefault(AFTER_COMMIT, []).append((task, args))


def pending(session: so.Session) -> list[tuple[str, tuple[Any, ...]]]:
    """The tasks waiting for this session's commit (a copy)."""
    return list(session.info.get(AFTER_COMMIT, ()))


def after_commit(session: so.Session, call: Callable[[], None]) -> None:
    """Call `call()` in this process once the session's transaction has committed, never if it
    rolls back or is closed: a file is deleted only after the rows that point to it are gone."""
    session.info.setdefault(AFTER_COMMIT_CALLS, []).append(call)


def after_rollback(session: so.Session, call: Callable[[], None]) -> None:
    """Call `call()` in this process if the session's transaction ends without a commit (rolled
    back or closed), never after a commit: what was done outside the database ahead of the
    commit is undone with the rows."""
    session.info.setdefault(AFTER_ROLLBACK_CALLS, []).append(call)


def _call(calls: list[Callable[[], None]], what: str) -> None:
    for call in calls:
        try:
            call()
        except Exception:
            log.exception("a step %s failed", what)


@sa.event.listens_for(so.Session, "after_commit")
def _call_after_commit(session: so.Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the transaction may still roll back
    session.info.pop(AFTER_ROLLBACK_CALLS, None)
    _call(session.info.pop(AFTER_COMMIT_CALLS, []), "after the commit")


@sa.event.listens_for(so.Session, "after_transaction_end")
def _forget_after_rollback(session: so.Session, transaction: so.SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed (after a commit both are empty)
        session.info.pop(AFTER_COMMIT_CALLS, None)
        _call(session.info.pop(AFTER_ROLLBACK_CALLS, []), "after the rollback")


@contextmanager
def unit_of_work(rt: Runtime, session: so.Session | None = None) -> Iterator[so.Session]:
    """Open one transaction: commit when the block ends, roll back when it raises.

    With `session` (the web request's own), that session is used and left open; without, a new
    one is opened and closed. Tasks given to `later()` are queued after the commit.
    """
    own = session is None
    work = rt.sessions() if session is None else session
    try:
        yield work
        work.commit()
    except BaseException:
        work.rollback()
        work.info.pop(AFTER_COMMIT, None)
        raise
    finally:
        if own:
            work.close()
    send_pending(rt, work)


def send_pending(rt: Runtime, session: so.Session) -> None:
    """Queue the tasks `later()` recorded on `session` (after its commit)."""
    tasks = session.info.pop(AFTER_COMMIT, [])
    if not tasks:
        return
    jobs = rt.jobs
    if jobs is None:
        log.warning("no job queue in this process: %d task(s) not queued", len(tasks))
        return
    for name, args in tasks:
        jobs.enqueue(name, *args)
