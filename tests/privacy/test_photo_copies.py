"""A photo's small audit copy goes where its thumbnail goes: erasure, photo removal, the sweeper."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.models import Face, Photo, utcnow
from consentcam.runtime import Runtime
from consentcam.services import photos, privacy, sweeper
from tests.audit.scenario import add_person, confirm_all, scan
from tests.conftest import FACES


def _age(rt: Runtime, key: str, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(rt.storage.path(key), (old, old))


def _files_of(photo: Photo) -> list[str]:
    assert photo.thumbnail_key is not None
    return [photo.original_key, photo.thumbnail_key, photos.mini_key(photo.sha256)]


def test_erasure_treats_the_small_copy_like_the_thumbnail(
    session: so.Session, runtime: Runtime
) -> None:
    """Erasure deletes a person's own files (references, evidence); the photos that showed
    them stay, unlinked and back to review, so their original, thumbnail and small copy stay."""
    given = utcnow() - timedelta(days=3)
    obama = add_person(
        session, runtime, "Barack Obama", refs=("known/obama/obama1.jpg",), given=given
    )
    session.commit()
    photo = scan(session, runtime, "unknown/obama1.jpg")
    confirm_all(photo)
    session.commit()
    assert [f.person_id for f in photo.faces] == [obama.id]
    own = [c.evidence_key for c in obama.consents] + [r.source_key for r in obama.reference_faces]
    assert all(runtime.storage.exists(k) for k in own + _files_of(photo))

    privacy.erase_person(session, runtime, obama)
    session.commit()

    assert not any(runtime.storage.exists(k) for k in own)
    session.refresh(photo)
    assert [f.person_id for f in photo.faces] == [None]
    assert all(runtime.storage.exists(k) for k in _files_of(photo))
    for key in _files_of(photo):
        _age(runtime, key)
    assert sweeper.sweep(session, runtime).orphans == []  # still the photo's


def test_a_removed_photo_loses_its_small_copy_with_its_other_files(
    session: so.Session, runtime: Runtime
) -> None:
    gone = photos.ingest(
        session, runtime, (FACES / "unknown/obama1.jpg").read_bytes(), "obama1.jpg"
    ).photo
    kept = photos.ingest(
        session, runtime, (FACES / "unknown/two_people.jpg").read_bytes(), "two.jpg"
    ).photo
    session.commit()
    gone_files, kept_files = _files_of(gone), _files_of(kept)
    for key in gone_files + kept_files:
        _age(runtime, key)

    session.execute(sa.delete(Face).where(Face.photo_id == gone.id))
    session.execute(sa.delete(Photo).where(Photo.id == gone.id))
    session.commit()

    dry = sweeper.sweep(session, runtime, dry_run=True)
    assert sorted(dry.orphans) == sorted(gone_files)
    assert all(runtime.storage.exists(k) for k in gone_files)
    result = sweeper.sweep(session, runtime)
    assert result.removed == 3
    assert not any(runtime.storage.exists(k) for k in gone_files)
    assert all(runtime.storage.exists(k) for k in kept_files)
    assert result.missing == []


def test_sweeper_keeps_the_copies_of_photos_and_young_ones(
    session: so.Session, runtime: Runtime
) -> None:
    photo = photos.ingest(
        session, runtime, (FACES / "unknown/kit_with_rose.jpg").read_bytes(), "kit.jpg"
    ).photo
    session.commit()
    mini = photos.mini_key(photo.sha256)
    _age(runtime, mini, 10 * 24 * 3600)
    # A copy of an upload whose row is not committed yet, and an old one nobody owns.
    data = runtime.storage.read(mini)
    young = photos.store_mini(runtime, "a" * 64, data)
    stray = photos.store_mini(runtime, "b" * 64, data)
    _age(runtime, stray)

    result = sweeper.sweep(session, runtime)

    assert result.orphans == [stray]
    assert runtime.storage.exists(mini), "an old copy of an existing photo is not an orphan"
    assert runtime.storage.exists(young), "a young file may belong to an upload in flight"
    assert not runtime.storage.exists(stray)
    # A missing copy is the backfill's to make, not a missing file the sweeper reports.
    runtime.storage.delete(mini)
    assert sweeper.sweep(session, runtime).missing == []
