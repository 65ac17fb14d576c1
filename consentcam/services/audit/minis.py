"""The small copies of photos the HTML report embeds, and the backfill that makes missing ones."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentcam.models import Photo
from consentcam.runtime import Runtime
from consentcam.services.photos import MINI_SIDE, make_mini, mini_key, store_mini

# One logger for the whole audit, whichever of its modules writes.
log = logging.getLogger("consentcam.services.audit")

# Side of the thumbnail embedded in the HTML report (made at upload, see photos.make_mini).
MINI_THUMB_SIDE = MINI_SIDE
#: Photos looked at per job of the background backfill of small copies.
BACKFILL_BATCH = 500
# Fewer missing copies than this are made one after the other rather than on threads.
_THREADED_FROM = 16


def _safe_key(key: str | None) -> bool:
    """A storage key that stays inside the media folder, checked without touching the disk."""
    if not key or key.startswith(("/", "\\")) or "\x00" in key or "\\" in key:
        return False
    return ".." not in key.split("/")


class Files:
    """Fast existence checks and reads of storage keys for the audit's thousands of lookups.

    ``Storage.path`` resolves every key (a realpath per call, one lstat per folder level), which
    is most of the audit's time over 10,000 posts; a key that passes ``_safe_key`` cannot leave
    the media folder, so a plain join is enough.
    """

    def __init__(self, rt: Runtime) -> None:
        self.root = str(rt.storage.root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, key)

    def exists(self, key: str | None) -> bool:
        return _safe_key(key) and os.path.isfile(self.path(key))  # type: ignore[arg-type]

    def read(self, key: str) -> bytes | None:
        if not _safe_key(key):
            return None
        try:
            with open(self.path(key), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def write_cache(self, key: str, data: bytes) -> None:
        """Write a cache file atomically but without fsync: losing it only costs a rebuild."""
        target = self.path(key)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        # ".tmp-" like Storage, so the sweeper cleans up after a process killed mid-write.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _mini_key(photo: Any) -> str:
    return mini_key(photo.sha256)


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def mini_thumbnail(rt: Runtime, photo: Any) -> str | None:
    """The photo's small JPEG (made at upload) as a data URI."""
    return mini_thumbnails(rt, [photo]).get(photo.id)


def mini_thumbnails(rt: Runtime, photos: Iterable[Any]) -> dict[int, str]:
    """Data URIs of the photos' small copies by photo id, read from storage.

    Upload makes them, and the worker's backfill makes those of photos stored before that. Any
    still missing (an upgraded instance whose backfill has not finished) are made here on a
    few threads (Pillow releases the GIL while it decodes and encodes) and written as a cache.
    """
    files = Files(rt)
    out: dict[int, str] = {}
    todo: list[Any] = []
    for photo in photos:
        if not photo.thumbnail_key or photo.id in out:
            continue
        data = files.read(_mini_key(photo))
        if data:
            out[photo.id] = _data_uri(data)
        elif _safe_key(photo.thumbnail_key):
            todo.append(photo)
    for photo_id, made in _make_missing(files, todo):
        if made:
            out[photo_id] = _data_uri(made)
    return out


def _make_missing(files: Files, todo: list[Any]) -> list[tuple[int, bytes | None]]:
    """Make the small copies of ``todo`` from their thumbnails and keep them as a cache."""

    def make(photo: Any) -> tuple[int, bytes | None]:
        data = make_mini(files.path(photo.thumbnail_key))
        if data:
            try:
                files.write_cache(_mini_key(photo), data)
            except OSError as exc:  # a read-only media folder still gets a report
                log.warning("could not cache the audit thumbnail of photo %s: %s", photo.id, exc)
        return photo.id, data

    if len(todo) < _THREADED_FROM:
        return [make(photo) for photo in todo]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(make, todo, chunksize=64))


@dataclass(frozen=True)
class Backfill:
    """One batch of the backfill: photos looked at, copies made, thumbnails that did not decode."""

    looked_at: int
    made: int
    unreadable: int
    next_after: int | None  # the last photo id of a full batch; None when this was the last


def backfill_minis(rt: Runtime, *, after_id: int = 0, batch: int | None = None) -> Backfill:
    """Make the missing small copies of up to ``batch`` photos with an id above ``after_id``.

    For photos stored before upload made them. Idempotent: a photo that has its copy is
    skipped, so a batch run twice (a worker restarted mid-way) makes nothing new. Only reads
    rows (in a read-only session of its own) and writes files.
    """
    batch = batch or BACKFILL_BATCH
    files = Files(rt)
    with rt.read_sessions() as session:
        rows = session.execute(
            sa.select(Photo.id, Photo.sha256, Photo.thumbnail_key)
            .where(Photo.id > after_id, Photo.thumbnail_key.is_not(None))
            .order_by(Photo.id)
            .limit(batch)
        ).all()
    made = unreadable = 0
    for row in rows:
        if files.exists(mini_key(row.sha256)) or not _safe_key(row.thumbnail_key):
            continue
        data = make_mini(files.path(row.thumbnail_key))
        if data is None:
            unreadable += 1
            continue
        store_mini(rt, row.sha256, data)
        made += 1
    next_after = rows[-1].id if len(rows) == batch else None
    return Backfill(len(rows), made, unreadable, next_after)


def backfill_done_marker(rt: Runtime) -> Path:
    """Exists once a full backfill pass has run on this instance (see backfill_minis)."""
    return Path(rt.instance_path) / "audit-minis-backfilled"
