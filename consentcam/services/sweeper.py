"""Housekeeping of the media folder: files no row refers to, and partial writes of killed processes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import (
    AuditRun,
    ConsentRecord,
    Photo,
    Publication,
    PublicLink,
    ReferenceFace,
    ReferenceUpload,
    SupplierPermission,
)
from consentcam.runtime import Runtime
from consentcam.services.photos import mini_key

#: Kinds whose every file is named by a row; reports/exports keep derived names and caches.
SWEPT_KINDS = ("originals", "thumbs", "evidence", "references", "cleared")
#: The audit's small photo copies: named by their photo's SHA-256 (photos.mini_key), not by a row.
MINI_PREFIX = "thumbs/mini/"

#: A file this young may belong to a request that has written it but not yet committed its row.
DEFAULT_MIN_AGE = 600.0
#: A partial `.tmp-*` file this old belongs to a process that was killed mid-write.
TEMP_MIN_AGE = 300.0

KEY_COLUMNS = (
    Photo.original_key,
    Photo.thumbnail_key,
    ConsentRecord.evidence_key,
    SupplierPermission.document_key,
    ReferenceFace.source_key,
    ReferenceUpload.source_key,
    Publication.cleared_copy_key,
    PublicLink.cleared_copy_key,
    AuditRun.report_key,
)


@dataclass
class SweepResult:
    orphans: list[str] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def removed(self) -> int:
        return 0 if self.dry_run else len(self.orphans) + len(self.temporaries)


def referenced_keys(session: so.Session) -> set[str]:
    """Every storage key some row points to."""
    keys: set[str] = set()
    for column in KEY_COLUMNS:
        keys.update(k for k in session.scalars(sa.select(column).where(column.is_not(None))) if k)
    return keys


def photo_minis(session: so.Session) -> set[str]:
    """The small-copy key of every photo there is (whether or not the file exists yet)."""
    return {mini_key(sha) for sha in session.scalars(sa.select(Photo.sha256))}


def sweep(
    session: so.Session,
    rt: Runtime,
    dry_run: bool = False,
    *,
    min_age: float = DEFAULT_MIN_AGE,
    temp_min_age: float = TEMP_MIN_AGE,
) -> SweepResult:
    """Remove files no row refers to (older than ``min_age`` s) and stale partial writes.

    A photo's small audit copy is kept while the photo exists and removed with it like its
    thumbnail. Also lists rows whose file is missing (``missing``), which it cannot repair; a
    missing small copy is not listed (the worker's backfill makes it).
    """
    result = SweepResult(dry_run=dry_run)
    now = time.time()
    referenced = referenced_keys(session)
    minis = photo_minis(session)
    for kind in SWEPT_KINDS:
        for key in rt.storage.keys(kind):
            if key in referenced or (key.startswith(MINI_PREFIX) and key in minis):
                continue
            path = rt.storage.path(key)
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age >= min_age:
                result.orphans.append(key)
    for path in rt.storage.leftover_temporaries():
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= temp_min_age:
            result.temporaries.append(path.relative_to(rt.storage.root).as_posix())
    result.missing = sorted(
        k for k in referenced if k.startswith(SWEPT_KINDS) and not rt.storage.exists(k)
    )
    if not dry_run:
        for key in result.orphans + result.temporaries:
            try:
                (rt.storage.root / key).unlink()
            except FileNotFoundError:
                pass
    return result
