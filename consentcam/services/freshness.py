"""Short-lived per-process memory of expensive page counts, forgotten as soon as anything changes."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import Event, Photo

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Longest time a remembered count is shown. Writes forget it at once (see data_version); the
#: limit only covers what changes with the clock alone, such as a consent that expires.
TTL_SECONDS = 5.0

#: An answer that took at least this long to make, when made in the background is allowed, is
#: renewed by a background thread while requests keep showing the last one (see remembered).
SLOW_SECONDS = 0.1

#: Most answers a process remembers; the least recently used is forgotten first. Rendered page
#: parts are a few tens of kilobytes, so this bounds the memory at a few tens of megabytes.
MAX_ENTRIES = 1024

_lock = threading.Lock()


def data_version(session: so.Session) -> tuple[Any, ...]:
    """A stamp that changes with every write the counts depend on, in every process.

    Every change of consent, faces, publications, removals, suppliers, uploads and finished scans
    records an event in the same transaction, so the newest event number moves with each of them; the
    photos waiting for a scan are counted too, because claiming a scan records no event. All three
    are index lookups: a fraction of a millisecond even with 100,000 photos. Events are appended
    one transaction at a time (SQLite has one writer; PostgreSQL takes an advisory lock held to
    the commit), so event numbers become visible in order: a reader never sees a newer number
    while an older, still uncommitted change is missing from what it read.
    """
    row = session.execute(
        sa.select(
            sa.select(sa.func.max(Event.seq)).scalar_subquery(),
            sa.select(sa.func.max(Photo.id)).scalar_subquery(),
            sa.select(sa.func.count())
            .select_from(Photo)
            .where(Photo.scan_state.in_(("pending", "scanning", "failed")))
            .scalar_subquery(),
        )
    ).one()
    return tuple(row)


def remembered(
    cache: dict[str, Any] | None,
    key: Hashable,
    session: so.Session,
    compute: Callable[[], T],
    *,
    ttl: float = TTL_SECONDS,
    version: tuple[Any, ...] | None = None,
    background: Callable[[], T] | None = None,
) -> T:
    """``compute()``, or its remembered answer if the data did not change and it is fresh.

    ``cache`` is the runtime's per-process dict (None computes every time). Each process keeps
    its own copy; the version stamp makes a write in one process visible to the others on their
    next request, so a page never shows a count from before the owner's own change. A caller
    that has already read the stamp in this request passes it as ``version``.

    One thread at a time makes a given answer: after a write the others wait for it (they must
    not see the old one); when only the time limit ran out, they keep serving the old answer
    meanwhile (the data under it did not change), so a busy process never makes the same
    expensive page several times at once.

    ``background`` makes the same answer with a database session of its own, so it can run on
    another thread. When given, and the last answer took SLOW_SECONDS or more to make (counts
    over 100,000 photos take half a second), a change of data no longer makes the request wait:
    a background thread makes the new answer and the request shows the last one, one change
    behind, until it is there. Quick answers (every small instance) are still made at once.
    """
    if cache is None:
        return compute()
    if version is None:
        version = data_version(session)
    with _lock:
        store: OrderedDict[Hashable, tuple[float, tuple[Any, ...], Any, float]] = cache.setdefault(
            "counts", OrderedDict()
        )
        making: dict[Hashable, threading.Lock] = cache.setdefault("making", {})
        hit = store.get(key)
        if hit is not None and key in store:
            store.move_to_end(key)
        key_lock = making.setdefault(key, threading.Lock())
    same_data = hit is not None and hit[1] == version
    if hit is not None and same_data and time.monotonic() - hit[0] < ttl:
        return hit[2]
    slow = hit is not None and background is not None and hit[3] >= SLOW_SECONDS
    if hit is not None and (same_data or slow) and not key_lock.acquire(blocking=False):
        return hit[2]  # another thread is renewing it
    if hit is not None and slow:
        assert background is not None
        thread = threading.Thread(
            target=_renew, args=(cache, key, version, background, key_lock), daemon=True
        )
        with _lock:
            _renewals.append(thread)
        thread.start()
        return hit[2]
    if not same_data:
        key_lock.acquire()
    try:
        with _lock:
            again = store.get(key)
        if again is not None and again[1] == version and time.monotonic() - again[0] < ttl:
            return again[2]  # made while this thread waited
        started = time.monotonic()
        value = compute()
        _store(cache, key, version, value, time.monotonic() - started)
        return value
    finally:
        key_lock.release()


#: Background renewals running now (tests wait for them).
_renewals: list[threading.Thread] = []


def _store(
    cache: dict[str, Any], key: Hashable, version: tuple[Any, ...], value: Any, took: float
) -> None:
    with _lock:
        store = cache["counts"]
        store[key] = (time.monotonic(), version, value, took)
        store.move_to_end(key)
        while len(store) > MAX_ENTRIES:
            old, _ = store.popitem(last=False)
            cache["making"].pop(old, None)


def _renew(
    cache: dict[str, Any],
    key: Hashable,
    version: tuple[Any, ...],
    make: Callable[[], Any],
    key_lock: threading.Lock,
) -> None:
    try:
        started = time.monotonic()
        value = make()
        _store(cache, key, version, value, time.monotonic() - started)
    except Exception:  # noqa: BLE001 - the last answer stays; the next request tries again
        log.exception("renewing the remembered answer %r failed", key)
    finally:
        key_lock.release()
        with _lock:
            if threading.current_thread() in _renewals:
                _renewals.remove(threading.current_thread())


def wait_for_renewals(timeout: float = 30) -> None:
    """Wait until the background renewals running now have finished."""
    with _lock:
        running = list(_renewals)
    for thread in running:
        thread.join(timeout)
