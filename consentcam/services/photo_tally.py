"""How many photos are in each review state and have each verdict per channel, kept on write.

The photo list's filter counts and the start page's photo counts read a dozen rows of
`photo_tally` (one small query) instead of counting photos. The counters move with the rows
they count, in the same unit of work (services.photo_state notes each move):

- a photo added counts under its review state, a photo deleted leaves its review state and
  its verdicts;
- a photo worked out again moves from its old review state to its new one, and each verdict
  row it gains, loses or changes moves between ``verdict:<channel>:<state>`` keys.

Each move is a +1 or -1 on a key, summed in the session. The sums are written once, just before
the commit (`apply`), one statement per key in sorted key order (``n = n + d``, inserting a
missing key), so two PostgreSQL transactions take the counters' row locks in the same order
and never deadlock on them; they are the last locks a unit of work takes. A rollback drops the
sums with the rest of the transaction, and a savepoint rolled back drops what was noted in it.
Readers in the unit of work that made the moves see them (`read` adds what waits for the commit).

Rows written without the ORM (a bulk INSERT of photos) are not counted: whoever writes them calls
`recount`, which rebuilds the counters from the rows. Should one forget, the worker's hourly
`check` finds the counters that disagree with the rows, logs them and counts again.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from consentcam.domain.types import Channel, GateState, ReviewState
from consentcam.models import Photo, PhotoChannelState, PhotoTally

#: Where a session keeps its sums until the commit.
DELTAS = "consentcam.photo_tally"
#: Where a session keeps the sums as they were when each open savepoint began.
SAVEPOINTS = "consentcam.photo_tally.savepoints"

#: Every counter there is (a recount writes each, with 0 for none).
KEYS = tuple(
    [f"review:{r.value}" for r in ReviewState]
    + [f"verdict:{c.value}:{g.value}" for c in Channel for g in GateState]
)

#: The whole table, for a reader (a dozen rows).
_READ = sa.select(PhotoTally.key, PhotoTally.n)


def review_key(state: ReviewState | str) -> str:
    return f"review:{ReviewState(state).value}"


def verdict_key(channel: Channel | str, state: GateState | str) -> str:
    return f"verdict:{Channel(channel).value}:{GateState(state).value}"


def _deltas(session: so.Session) -> Counter[str]:
    deltas: Counter[str] = session.info.setdefault(DELTAS, Counter())
    return deltas


def note(session: so.Session, key: str, delta: int) -> None:
    """Count ``delta`` more photos under ``key`` once this unit of work commits."""
    _deltas(session)[key] += delta


def move(session: so.Session, old: str | None, new: str | None) -> None:
    """One photo leaves counter ``old`` (None: none) for counter ``new`` (None: none)."""
    if old == new:
        return
    deltas = _deltas(session)
    if old is not None:
        deltas[old] -= 1
    if new is not None:
        deltas[new] += 1


def pending(session: so.Session) -> dict[str, int]:
    """What this unit of work has noted and not yet written (none after the commit)."""
    return {k: d for k, d in session.info.get(DELTAS, {}).items() if d}


def apply(session: so.Session) -> int:
    """Write the noted sums, in sorted key order; return how many counters moved."""
    deltas: Counter[str] | None = session.info.pop(DELTAS, None)
    if not deltas:
        return 0
    moved = sorted((key, d) for key, d in deltas.items() if d)
    for key, delta in moved:
        session.execute(_add_statement(session, key, delta))
    return len(moved)


def _add_statement(session: so.Session, key: str, delta: int) -> Any:
    """``UPDATE photo_tally SET n = n + :delta WHERE key = :key``, inserting a missing key
    (one statement: INSERT ... ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PhotoTally).values(key=key, n=delta)
    return statement.on_conflict_do_update(
        index_elements=[PhotoTally.key], set_={"n": PhotoTally.n + statement.excluded.n}
    )


def read(session: so.Session) -> dict[str, int]:
    """Every counter (0 for a key with no row), with what this unit of work has noted."""
    counts = dict.fromkeys(KEYS, 0)
    for key, n in session.execute(_READ):
        counts[key] = int(n)
    for key, delta in pending(session).items():
        counts[key] = counts.get(key, 0) + delta
    return counts


def review_counts(counts: dict[str, int]) -> dict[ReviewState, int]:
    return {state: counts.get(review_key(state), 0) for state in ReviewState}


def verdict_counts(counts: dict[str, int], channel: Channel) -> dict[GateState, int]:
    return {state: counts.get(verdict_key(channel, state), 0) for state in GateState}


def counted(session: so.Session) -> dict[str, int]:
    """The counters worked out from the rows themselves (what `recount` writes)."""
    counts = dict.fromkeys(KEYS, 0)
    for review, n in session.execute(
        sa.select(Photo.review_state, sa.func.count()).group_by(Photo.review_state)
    ):
        counts[review_key(review)] = int(n)
    for channel, state, n in session.execute(
        sa.select(PhotoChannelState.channel, PhotoChannelState.state, sa.func.count()).group_by(
            PhotoChannelState.channel, PhotoChannelState.state
        )
    ):
        counts[verdict_key(channel, state)] = int(n)
    return counts


def recount(session: so.Session) -> dict[str, int]:
    """Rebuild the counters from the photos and their verdict rows; return them.

    For rows written without the ORM (bulk seeding) and for migrations: what this unit of work
    noted so far is in the rows already, so it is dropped. Meant for a quiet database: a
    transaction committing between the count and the write is counted by neither.
    """
    session.flush()
    session.info.pop(DELTAS, None)
    session.execute(sa.delete(PhotoTally))
    counts = counted(session)
    session.execute(sa.insert(PhotoTally), [{"key": k, "n": n} for k, n in sorted(counts.items())])
    return counts


def drift(session: so.Session) -> dict[str, int]:
    """Counters that disagree with the rows: key -> counted minus stored (empty when all agree).

    Both are read in one transaction; on PostgreSQL the caller opens it REPEATABLE READ so that
    both reads see the same snapshot (SQLite's reads in one transaction always do).
    """
    stored = read(session)
    counted_now = counted(session)
    keys = set(stored) | set(counted_now)
    return {
        k: counted_now.get(k, 0) - stored.get(k, 0)
        for k in sorted(keys)
        if counted_now.get(k, 0) != stored.get(k, 0)
    }


def check(session: so.Session) -> dict[str, int]:
    """Count again if any counter disagrees with the rows; return the disagreements found."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    found = drift(session)
    if found:
        recount(session)
    return found


# ---- Savepoints: what was noted inside one that rolls back is dropped with its rows.


@sa.event.listens_for(so.Session, "after_transaction_create")
def _savepoint_begins(session: so.Session, transaction: so.SessionTransaction) -> None:
    if transaction.nested:
        saved = session.info.setdefault(SAVEPOINTS, {})
        saved[transaction] = Counter(session.info.get(DELTAS, ()))


@sa.event.listens_for(so.Session, "after_soft_rollback")
def _savepoint_rolled_back(session: so.Session, previous: so.SessionTransaction) -> None:
    if previous.nested:
        saved = session.info.get(SAVEPOINTS, {}).pop(previous, None)
        if saved is not None:
            session.info[DELTAS] = saved


@sa.event.listens_for(so.Session, "after_transaction_end")
def _transaction_ends(session: so.Session, transaction: so.SessionTransaction) -> None:
    if transaction.parent is None:  # committed (written already) or rolled back: forget
        session.info.pop(DELTAS, None)
        session.info.pop(SAVEPOINTS, None)
