"""Short-lived per-process memory of expensive page counts, forgotten as soon as anything changes."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import Event, Photo

T = TypeVar("T")

#: Longest time a remembered count is shown. Writes forget it at once (see data_version); the
#: limit only covers what changes with the clock alone, such as a consent that expires.
TTL_SECONDS = 5.0

#: Most answers a process remembers; the least recently used is forgotten first. Rendered page
#: parts are a few tens of kilobytes, so this bounds the memory at a few tens of megabytes.
MAX_ENTRIES = 1024

_lock = threading.Lock()


def data_version(session: so.Session) -> tuple[Any, ...]:
    """A stamp that changes with every write the counts depend on, in every process.

    Every change of consent, faces, publications, removals, suppliers, uploads and finished scans
    records an event in the same transaction, so the newest event number moves with each of them; the
    photos waiting for a scan are counted too, because claiming a scan records no event. All three
    are index lookups: a fraction of a millisecond even with 100,000 photos.
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
) -> T:
    """``compute()``, or its remembered answer if the data did not change and it is fresh.

    ``cache`` is the runtime's per-process dict (None computes every time). Each process keeps
    its own copy; the version stamp makes a write in one process visible to the others on their
    next request, so a page never shows a count from before the owner's own change. A caller
    that has already read the stamp in this request passes it as ``version``.
    """
    if cache is None:
        return compute()
    if version is None:
        version = data_version(session)
    with _lock:
        store: OrderedDict[Hashable, tuple[float, tuple[Any, ...], Any]] = cache.setdefault(
            "counts", OrderedDict()
        )
        hit = store.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] == version and now - hit[0] < ttl:
        with _lock:
            if key in store:
                store.move_to_end(key)
        return hit[2]  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        store[key] = (now, version, value)
        store.move_to_end(key)
        while len(store) > MAX_ENTRIES:
            store.popitem(last=False)
    return value
