"""Worker processes are forked from the worker command: none inherits its database connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import consentcam.jobs
import consentcam.web
from consentcam.cli import main
from consentcam.runtime import Runtime
from consentcam.services import photos
from tests.conftest import FACES, cli_init


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = cli_init(tmp_path / "inst")
    rt = Runtime.build(path)
    try:
        with rt.sessions() as s:
            photos.ingest(s, rt, (FACES / "unknown/obama1.jpg").read_bytes(), "o.jpg")
            s.commit()
    finally:
        rt.close()
    return path


def _start_worker(instance: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> dict[str, Any]:
    """Run `consentcam worker`; say what the consumer would inherit when it starts its workers."""
    from huey.consumer import Consumer

    started: list[Any] = []
    start = consentcam.jobs.start

    def recording_start(rt: Runtime) -> Any:
        started.append(rt)
        return start(rt)

    def no_web_app(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the worker must not build the web app")

    seen: dict[str, Any] = {}

    def run(consumer: Consumer) -> None:
        pool = started[0].engine.pool
        seen["worker_type"] = consumer.worker_type
        seen["max_delay"] = consumer.max_delay
        seen["open_connections"] = pool.checkedin() + pool.checkedout()
        seen["queued"] = sorted(t.name for t in consumer.huey.pending())

    monkeypatch.setattr(consentcam.jobs, "start", recording_start)
    monkeypatch.setattr(consentcam.web, "create_app", no_web_app)
    monkeypatch.setattr(Consumer, "run", run)
    result = CliRunner().invoke(
        main, ["--instance", str(instance), "worker", "--workers", str(workers)]
    )
    assert result.exit_code == 0, result.output
    assert "1 unfinished scan(s)" in result.output
    return seen


def test_worker_processes_do_not_inherit_an_open_database_connection(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _start_worker(instance, monkeypatch, workers=2)
    assert seen["worker_type"] == "process"
    # The start-up used the database (the scan waiting was queued again) ...
    assert "scan_photo" in seen["queued"]
    # ... and left no connection behind for the forked workers to share.
    assert seen["open_connections"] == 0


def test_a_single_worker_thread_keeps_its_connection(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker runs as a thread of this very process: nothing is forked, the pool is kept.
    seen = _start_worker(instance, monkeypatch, workers=1)
    assert seen["worker_type"] == "thread"
    assert seen["open_connections"] == 1


def test_an_idle_worker_looks_for_work_at_least_once_a_second(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huey backs off to 10 s between looks at an empty queue by default: a photo uploaded
    after a quiet spell would wait that long before its scan starts."""
    from consentcam.cli import IDLE_POLL_SECONDS

    for workers in (1, 2):
        seen = _start_worker(instance, monkeypatch, workers=workers)
        assert seen["max_delay"] == IDLE_POLL_SECONDS <= 1.0
