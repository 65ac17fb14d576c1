"""The audit's background jobs: a run with a re-scan, and the backfill of small copies.

Each job is an entry point: it opens its own units of work, one per step, so the long
re-scan runs with no transaction open.
"""

from __future__ import annotations

import logging

from consentcam.domain.audit import Quarter
from consentcam.runtime import Runtime, TaskQueue
from consentcam.services.audit.minis import backfill_done_marker, backfill_minis
from consentcam.services.audit.rescan import rescan_counts, rescan_targets
from consentcam.services.audit.running import complete_run, mark_failed, record_progress
from consentcam.services.audit.stored import get_run
from consentcam.uow import unit_of_work

log = logging.getLogger("consentcam.services.audit")


def register(jobs: TaskQueue) -> None:
    jobs.task("backfill_audit_minis")(backfill_minis_task)
    jobs.task("run_audit")(run_audit_task)


def backfill_minis_task(rt: Runtime, after_id: int = 0, made: int = 0, unreadable: int = 0) -> None:
    """One batch of the backfill; queues the next behind whatever else is waiting."""
    done = backfill_minis(rt, after_id=after_id)
    made += done.made
    unreadable += done.unreadable
    if done.next_after is not None:
        if done.made:
            log.info(
                "audit thumbnails: %d small copies made so far, continuing after photo %d",
                made,
                done.next_after,
            )
        rt.queue().enqueue("backfill_audit_minis", done.next_after, made, unreadable)
        return
    log.info(
        "audit thumbnails: backfill finished, %d small copies made, %d unreadable thumbnails",
        made,
        unreadable,
    )
    # Upload makes every later copy, so no worker start needs to walk the photos again.
    backfill_done_marker(rt).touch()


def run_audit_task(rt: Runtime, run_id: int) -> None:
    """Finish an audit run in steps; a failure is kept on the run for its page to show."""
    try:
        _finish_run(rt, run_id)
    except Exception as exc:
        log.exception("audit run %s failed", run_id)
        with unit_of_work(rt) as session:
            mark_failed(session, run_id, exc)
        raise


def _finish_run(rt: Runtime, run_id: int) -> None:
    # 1. What to do: nothing for a run that is gone or finished; what to re-scan.
    with unit_of_work(rt) as session:
        run = get_run(session, run_id)
        if run is None or run.report_key:
            return
        rescan = run.rescan
        targets = rescan_targets(session, Quarter.parse(run.quarter)) if rescan else []
    # 2. The long re-scan, with no transaction open; each step's progress in its own.
    unaccounted = None
    if rescan:
        unaccounted = rescan_counts(rt, targets, lambda d, t: _progress(rt, run_id, d, t))
    # 3. The report, stored and recorded in one unit of work.
    with unit_of_work(rt) as session:
        run = get_run(session, run_id)
        if run is None or run.report_key:
            return
        complete_run(session, rt, run, actor="worker", unaccounted=unaccounted)


def _progress(rt: Runtime, run_id: int, done: int, total: int) -> None:
    """Write a running audit's progress in its own short transaction, so pages can poll it."""
    with unit_of_work(rt) as session:
        record_progress(session, run_id, done, total)
