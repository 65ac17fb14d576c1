"""The audit's small photo copies: made at upload, backfilled by the worker, read by the audit."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy.orm as so
from flask import Flask
from PIL import Image

from consentcam.domain import ScanState
from consentcam.domain.audit import Quarter
from consentcam.jobs import on_worker_start
from consentcam.models import Photo, utcnow
from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from consentcam.services import photos
from consentcam.services.audit import minis
from tests.audit.scenario import publish
from tests.conftest import FACES

PHOTOS = (
    "unknown/obama1.jpg",
    "unknown/two_people.jpg",
    "unknown/kit_with_rose.jpg",
    "unknown/lin-manuel-miranda.png",
    "unknown/alex_lacamoire1.jpg",
)


def _upload(session: so.Session, rt: Runtime, rels: Iterable[str] = PHOTOS) -> list[Photo]:
    out = []
    for rel in rels:
        out.append(photos.ingest(session, rt, (FACES / rel).read_bytes(), Path(rel).name).photo)
    session.commit()
    return out


def _files(rt: Runtime) -> dict[str, int]:
    """Every file in the media folder with its modification time (ns)."""
    root = rt.storage.root
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def _minis(rt: Runtime) -> set[str]:
    return {k for k in rt.storage.keys("thumbs") if k.startswith("thumbs/mini/")}


def test_upload_stores_the_small_copy_made_from_its_thumbnail(
    session: so.Session, runtime: Runtime
) -> None:
    photo = _upload(session, runtime, ("unknown/two_people.jpg",))[0]
    key = photos.mini_key(photo.sha256)
    assert runtime.storage.exists(key)
    stored = runtime.storage.read(key)
    assert photo.thumbnail_key is not None
    thumb = runtime.storage.read(photo.thumbnail_key)
    # The same function made it from the stored thumbnail's bytes.
    assert stored == photos.make_mini(thumb)
    with Image.open(io.BytesIO(thumb)) as t, Image.open(io.BytesIO(stored)) as m:
        assert m.format == "JPEG"
        assert max(m.size) == photos.MINI_SIDE
        assert abs(m.size[0] / m.size[1] - t.size[0] / t.size[1]) < 0.02  # aspect kept
    # Exactly one copy per uploaded photo, and none for a repeated upload.
    again = photos.ingest(
        session, runtime, (FACES / "unknown/two_people.jpg").read_bytes(), "again.jpg"
    )
    assert not again.created
    assert _minis(runtime) == {key}
    assert not list(runtime.storage.root.rglob(".tmp-*"))


def test_an_audit_after_upload_makes_no_file_and_embeds_the_stored_copies(
    session: so.Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = _upload(session, runtime)
    quarter = Quarter.current(utcnow())
    at = max(quarter.start, utcnow() - timedelta(minutes=5))
    for photo in uploaded:
        publish(session, runtime, photo, "instagram", at, faces=[])
    session.commit()
    before = _files(runtime)

    def refuse(source: bytes | str) -> NoReturn:  # the audit must not make a single copy
        raise AssertionError(f"the audit made a small copy of {source!r}")

    monkeypatch.setattr(minis, "make_mini", refuse)
    run = audits.run_audit(session, runtime, quarter)
    session.commit()

    after = _files(runtime)
    new = set(after) - set(before)
    assert new and all(k.startswith("reports/") for k in new), new  # only the report itself
    assert {k: after[k] for k in before} == before  # nothing rewritten either
    html = audits.read_report(runtime, run).decode()
    for photo in uploaded:
        stored = runtime.storage.read(photos.mini_key(photo.sha256))
        assert audits._data_uri(stored) in html


def test_the_audit_still_makes_a_copy_that_is_missing(
    session: so.Session, runtime: Runtime
) -> None:
    """An upgraded instance whose backfill has not reached a photo yet still gets its report."""
    photo = _upload(session, runtime, ("unknown/obama1.jpg",))[0]
    key = photos.mini_key(photo.sha256)
    made_at_upload = runtime.storage.read(key)
    runtime.storage.delete(key)
    uri = audits.mini_thumbnail(runtime, photo)
    assert uri == audits._data_uri(made_at_upload)
    assert runtime.storage.read(key) == made_at_upload  # cached for the next audit


def test_backfill_makes_the_missing_copies_in_batches_and_is_idempotent(
    session: so.Session, runtime: Runtime
) -> None:
    uploaded = _upload(session, runtime)
    made_at_upload = {p.sha256: runtime.storage.read(photos.mini_key(p.sha256)) for p in uploaded}
    # The state of an instance whose photos were stored before upload made the copies.
    for photo in uploaded[1:]:
        runtime.storage.delete(photos.mini_key(photo.sha256))
    kept_mtime = runtime.storage.path(photos.mini_key(uploaded[0].sha256)).stat().st_mtime_ns

    batches = []
    after = 0
    while True:
        done = audits.backfill_minis(runtime, after_id=after, batch=2)
        batches.append(done)
        if done.next_after is None:
            break
        after = done.next_after
    assert [b.looked_at for b in batches] == [2, 2, 1]
    assert sum(b.made for b in batches) == len(uploaded) - 1
    assert sum(b.unreadable for b in batches) == 0
    for photo in uploaded:
        assert runtime.storage.read(photos.mini_key(photo.sha256)) == made_at_upload[photo.sha256]
    path = runtime.storage.path(photos.mini_key(uploaded[0].sha256))
    assert path.stat().st_mtime_ns == kept_mtime  # an existing copy is not made again

    files = _files(runtime)
    again = audits.backfill_minis(runtime, batch=100)
    assert (again.looked_at, again.made, again.next_after) == (len(uploaded), 0, None)
    assert _files(runtime) == files


def test_backfill_counts_a_thumbnail_that_does_not_decode(
    session: so.Session, runtime: Runtime
) -> None:
    photo = _upload(session, runtime, ("unknown/obama1.jpg",))[0]
    runtime.storage.delete(photos.mini_key(photo.sha256))
    broken, _ = runtime.storage.put("thumbs", b"not a jpeg", "jpg")
    photo.thumbnail_key = broken
    session.commit()
    done = audits.backfill_minis(runtime)
    assert (done.made, done.unreadable) == (0, 1)
    assert not runtime.storage.exists(photos.mini_key(photo.sha256))


def test_worker_start_queues_the_backfill_which_runs_batch_after_batch(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rt: Runtime = app.extensions["runtime"]
    assert app.config["QUEUE_URL"] == "immediate"  # queued jobs run right here
    with rt.sessions() as s:
        uploaded = _upload(s, rt)
        for photo in uploaded:
            photo.scan_state = ScanState.DONE  # nothing for the start-up to scan
        s.commit()
        shas = [p.sha256 for p in uploaded]
    for sha in shas:
        rt.storage.delete(photos.mini_key(sha))
    monkeypatch.setattr(minis, "BACKFILL_BATCH", 2)

    with caplog.at_level(logging.INFO, logger="consentcam.services.audit"):
        on_worker_start(app.extensions["runtime"])

    assert all(rt.storage.exists(photos.mini_key(sha)) for sha in shas)
    messages = [r.getMessage() for r in caplog.records if r.name == "consentcam.services.audit"]
    assert any("continuing after photo" in m for m in messages)
    assert messages[-1].startswith(f"audit thumbnails: backfill finished, {len(shas)} small copies")


def test_a_finished_backfill_is_not_queued_again_at_the_next_start(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Once a pass has finished, upload makes every copy: a worker start walks no photos."""
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        for photo in _upload(s, rt):
            photo.scan_state = ScanState.DONE
        s.commit()
    on_worker_start(app.extensions["runtime"])
    assert audits.backfill_done_marker(rt).exists()
    with caplog.at_level(logging.INFO, logger="consentcam.services.audit"):
        on_worker_start(app.extensions["runtime"])
    assert not [r for r in caplog.records if r.name == "consentcam.services.audit"]


@pytest.mark.parametrize("batch", [1, 3])
def test_backfill_batches_cover_every_photo_once(
    session: so.Session, runtime: Runtime, batch: int
) -> None:
    uploaded = _upload(session, runtime, PHOTOS[:3])
    for photo in uploaded:
        runtime.storage.delete(photos.mini_key(photo.sha256))
    seen = 0
    after = 0
    while True:
        done = audits.backfill_minis(runtime, after_id=after, batch=batch)
        seen += done.looked_at
        if done.next_after is None:
            break
        after = done.next_after
    assert seen == len(uploaded)
    assert len(_minis(runtime)) == len(uploaded)
