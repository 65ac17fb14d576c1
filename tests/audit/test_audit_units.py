"""Who holds the database while an audit runs: a re-scan never keeps a transaction open."""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import Any, NoReturn

import pytest
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.models import utcnow
from consentcam.runtime import Runtime
from consentcam.services import audit as audits
from consentcam.services.audit import rescan, running, tasks
from tests.audit.scenario import build


def _writable_at_once(rt: Runtime) -> bool:
    """Whether another writer gets SQLite's write lock without waiting (nobody holds it)."""
    raw = rt.engine.raw_connection()
    conn = raw.driver_connection
    assert conn is not None
    try:
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        conn.execute("ROLLBACK")
        return True
    finally:
        conn.execute("PRAGMA busy_timeout=30000")  # as the engine sets it, for the next user
        raw.close()


def _watch_the_scan(monkeypatch: pytest.MonkeyPatch, module: ModuleType, rt: Runtime) -> list[bool]:
    """Record, each time `module` starts the re-scan, whether the database is free for writers."""
    seen: list[bool] = []
    scan = rescan.rescan_counts

    def watched(*args: Any, **kwargs: Any) -> dict[int, int]:
        seen.append(_writable_at_once(rt))
        return scan(*args, **kwargs)

    monkeypatch.setattr(module, "rescan_counts", watched)
    return seen


def test_the_job_and_the_command_line_rescan_with_no_transaction_open(
    session: so.Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the write lock looked at is SQLite's")
    scenario = build(session, runtime)

    # The worker's job: the run row is committed first (as the page does), then finished in steps.
    job_scan = _watch_the_scan(monkeypatch, tasks, runtime)
    progress: list[tuple[int, int]] = []
    real_progress = running.record_progress

    def seen_progress(s: so.Session, run_id: int, done: int, total: int) -> None:
        progress.append((done, total))
        real_progress(s, run_id, done, total)

    monkeypatch.setattr(tasks, "record_progress", seen_progress)
    run = audits.start_run(session, scenario.quarter, rescan=True, user=None)
    session.commit()
    tasks.run_audit_task(runtime, run.id)
    assert job_scan == [True]
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)
    session.expire_all()
    done = audits.get_run(session, run.id)
    assert done is not None
    assert audits.progress_of(done)["state"] == "done"
    kinds = {f["kind"] for f in audits.read_snapshot(runtime, done)["findings"]}
    assert "unaccounted_face" in kinds
    session.commit()

    # The command line: one unit of work, but the scan comes before the run row is written.
    cli_scan = _watch_the_scan(monkeypatch, rescan, runtime)
    again = audits.run_audit(session, runtime, scenario.quarter, rescan=True)
    session.commit()
    assert cli_scan == [True]
    again_kinds = {f["kind"] for f in audits.read_snapshot(runtime, again)["findings"]}
    assert again_kinds == kinds


def test_a_failed_job_marks_its_run_failed_and_keeps_the_error(
    session: so.Session, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(tasks, "complete_run", broken)
    run = audits.start_run(session, Quarter.current(utcnow()), rescan=False, user=None)
    session.commit()
    with pytest.raises(RuntimeError, match="disk is full"):
        tasks.run_audit_task(runtime, run.id)
    session.expire_all()
    failed = audits.get_run(session, run.id)
    assert failed is not None
    state = audits.progress_of(failed)
    assert state["state"] == "failed" and state["error"] == "the disk is full"


def test_the_job_leaves_a_finished_run_as_it_is(session: so.Session, runtime: Runtime) -> None:
    run = audits.run_audit(session, runtime, Quarter.current(utcnow()))
    session.commit()
    kept = (run.report_sha256, run.summary)
    tasks.run_audit_task(runtime, run.id)
    tasks.run_audit_task(runtime, run.id + 1000)  # gone: nothing to do
    session.expire_all()
    again = audits.get_run(session, run.id)
    assert again is not None
    assert (again.report_sha256, again.summary) == kept
