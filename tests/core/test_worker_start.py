"""Worker start-up: leftovers swept, unfinished scans and open API removals queued again."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from click.testing import CliRunner
from flask import Flask

from consentcam.cli import main
from consentcam.domain.types import RemovalStatus, ScanState
from consentcam.jobs import on_worker_start
from consentcam.models import Event, Face, Photo, Publication, RemovalTask, utcnow
from consentcam.runtime import Runtime
from consentcam.services import photos
from tests.conftest import FACES, cli_init


def _old_orphan(rt: Runtime) -> str:
    """A file no row refers to, old enough for the sweeper (a killed upload's leftover)."""
    key, _ = rt.storage.put("originals", b"no row points here", "jpg")
    old = time.time() - 3600
    os.utime(rt.storage.path(key), (old, old))
    return key


def _open_api_removal(
    session: so.Session, photo: Photo, *, status: RemovalStatus = RemovalStatus.OPEN
) -> RemovalTask:
    # A post without an id at the channel: the deletion job hands it to the owner, which shows
    # that the job ran without calling a real channel.
    pub = Publication(photo_id=photo.id, channel="instagram", publisher="meta", external_id=None)
    session.add(pub)
    session.flush()
    task = RemovalTask(
        publication_id=pub.id,
        method="api",
        status=status,
        due_at=utcnow() + timedelta(days=7),
    )
    session.add(task)
    session.commit()
    return task


def test_on_worker_start_sweeps_and_runs_lost_scans_and_removals(app: Flask) -> None:
    rt: Runtime = app.extensions["runtime"]
    assert app.config["QUEUE_URL"] == "immediate"  # queued jobs run right here
    orphan = _old_orphan(rt)
    with rt.sessions() as s:
        lost = photos.ingest(s, rt, (FACES / "unknown/obama1.jpg").read_bytes(), "obama1.jpg")
        s.commit()
        pending_id = lost.photo.id
        assert lost.photo.scan_state == "pending"
        done = photos.ingest(
            s, rt, (FACES / "unknown/two_people.jpg").read_bytes(), "two.jpg"
        ).photo
        done.scan_state = ScanState.DONE
        s.commit()
        task_id = _open_api_removal(s, done).id
        closed_pub = Publication(photo_id=done.id, channel="facebook", publisher="meta")
        s.add(closed_pub)
        s.flush()
        s.add(
            RemovalTask(
                publication_id=closed_pub.id,
                method="api",
                status="done",
                due_at=utcnow(),
                closed_at=utcnow(),
            )
        )
        s.commit()

    counts = on_worker_start(app.extensions["runtime"])

    assert counts == {"swept": 1, "scans": 1, "removals": 1}
    assert not rt.storage.exists(orphan)
    with rt.sessions() as s:
        photo = s.get(Photo, pending_id)
        assert photo is not None
        assert photo.scan_state == "done", photo.scan_error
        assert s.scalar(sa.select(sa.func.count(Face.id)).where(Face.photo_id == pending_id)) == 1
        task = s.get(RemovalTask, task_id)
        assert task is not None
        assert (task.method, task.attempts) == ("manual", 0)
        assert "no id at the channel" in (task.last_error or "")
        assert s.scalar(
            sa.select(sa.func.count(Event.seq)).where(
                Event.kind == "removal.manual", Event.subject == f"removal_task:{task_id}"
            )
        )
    # Nothing is left to do: a second start finds no work.
    assert on_worker_start(app.extensions["runtime"]) == {"swept": 0, "scans": 0, "removals": 0}


def test_a_failing_sweep_does_not_keep_the_worker_from_starting(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentcam.services import sweeper

    def broken(*_a: Any, **_k: Any) -> NoReturn:
        raise OSError("media folder not mounted")

    monkeypatch.setattr(sweeper, "sweep", broken)
    rt: Runtime = app.extensions["runtime"]
    with rt.sessions() as s:
        photo = photos.ingest(s, rt, (FACES / "unknown/obama1.jpg").read_bytes(), "o.jpg").photo
        s.commit()
        _open_api_removal(s, photo)
    counts = on_worker_start(app.extensions["runtime"])
    assert counts["swept"] == 0 and counts["scans"] == 1 and counts["removals"] == 1


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    return cli_init(tmp_path / "inst")


def test_worker_command_readies_the_queue_before_taking_jobs(
    initialised: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huey.consumer import Consumer

    from consentcam.runtime import Runtime

    rt = Runtime.build(initialised)
    try:
        orphan = _old_orphan(rt)
        with rt.sessions() as s:
            photo = photos.ingest(s, rt, (FACES / "unknown/obama1.jpg").read_bytes(), "o.jpg")
            s.commit()
            _open_api_removal(s, photo.photo)
    finally:
        rt.close()
    seen: dict[str, Any] = {}

    def run(consumer: Consumer) -> None:
        # What the consumer would find waiting when it starts.
        seen["pending"] = sorted(t.name for t in consumer.huey.pending())
        seen["orphan_left"] = (initialised / "media" / orphan).exists()

    monkeypatch.setattr(Consumer, "run", run)
    result = CliRunner().invoke(main, ["--instance", str(initialised), "worker"])
    assert result.exit_code == 0, result.output
    assert "swept 1 leftover file(s)" in result.output
    assert "1 unfinished scan(s) and 1 API removal(s)" in result.output
    # The backfill of the audit's small photo copies is queued too (a no-op when none is missing).
    assert seen == {
        "pending": ["backfill_audit_minis", "delete_publication", "scan_photo"],
        "orphan_left": False,
    }


def test_worker_tasks_find_the_queue_or_say_there_is_none(runtime: Runtime) -> None:
    from consentcam.jobs import start

    assert runtime.jobs is None
    with pytest.raises(RuntimeError, match="no job queue was started in this process"):
        runtime.queue()
    jobs = start(runtime)
    assert runtime.queue() is jobs
