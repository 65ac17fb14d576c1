"""Running a quarter's audit: the run row, the snapshot and HTML report stored, the hashes kept.

Every function here works in the caller's unit of work and never commits. A run with a re-scan
is best finished by the worker (``request_run`` queues it after the commit; see tasks.py), which
scans with no transaction open.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun, User
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.audit.rescan import Progress, rescan_quarter
from consentcam.services.audit.snapshot import build_snapshot
from consentcam.services.audit.stored import AuditError, report_key, snapshot_key
from consentcam.uow import later
from consentcam.wording import N_

#: Longest error text kept on a failed run.
_ERROR_CHARS = 500


def start_run(
    session: so.Session, quarter: Quarter | str, *, rescan: bool, user: User | None
) -> AuditRun:
    """Create the run row (state "running") so progress can be shown before the work starts."""
    q = quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter)
    run = AuditRun(
        quarter=str(q),
        rescan=rescan,
        created_by_id=user.id if user else None,
        summary=json.dumps({"state": "running", "done": 0, "total": 0}),
    )
    session.add(run)
    session.flush()
    return run


def complete_run(
    session: so.Session,
    rt: Runtime,
    run: AuditRun,
    *,
    progress: Progress | None = None,
    actor: str | None = None,
    at: datetime | None = None,
    unaccounted: dict[int, int] | None = None,
) -> AuditRun:
    """Build the snapshot and the HTML report, store both, and record the hashes.

    ``unaccounted`` holds the re-scan's counts when the caller scanned beforehand (with no
    transaction open); a re-scanning run without them scans here, in the caller's transaction.
    """
    if run.signed_at is not None or run.report_key:
        raise AuditError(N_("this audit run is finished; run a new audit instead"))
    quarter = Quarter.parse(run.quarter)
    if run.rescan and unaccounted is None:
        unaccounted = rescan_quarter(session, rt, quarter, progress)
    snapshot = build_snapshot(
        session, rt, quarter, rescan=run.rescan, at=at, unaccounted=unaccounted
    )
    snapshot["run_id"] = run.id
    data_sha = _store(rt, run, snapshot)
    run.publication_count = len(snapshot["publications"])
    run.finding_count = len(snapshot["findings"])
    run.summary = json.dumps(_summary(snapshot, data_sha), sort_keys=True)
    events.record(
        session,
        "audit.run",
        f"audit:{run.id}",
        {
            "quarter": run.quarter,
            "rescan": run.rescan,
            "publications": run.publication_count,
            "findings": run.finding_count,
            "report_sha256": run.report_sha256,
        },
        actor=actor,
    )
    return run


def _store(rt: Runtime, run: AuditRun, snapshot: dict[str, Any]) -> str:
    """Store the snapshot's data and the HTML report made from it; give the data's SHA-256."""
    from consentcam.reports.html import render_html

    # The thumbnails live in the HTML only: CSV, PDF and the audit page never show them, and
    # leaving them out makes the stored data a few MB instead of tens to write, hash and read.
    stored = {k: v for k, v in snapshot.items() if k != "thumbs"}
    data = json.dumps(stored, ensure_ascii=False, sort_keys=True).encode("utf-8")
    data_sha = rt.storage.put_named(snapshot_key(run), data)
    html = render_html(snapshot, data_sha256=data_sha).encode("utf-8")
    run.report_sha256 = rt.storage.put_named(report_key(run), html)
    run.report_key = report_key(run)
    return data_sha


def _summary(snapshot: dict[str, Any], data_sha: str) -> dict[str, Any]:
    """What the run row keeps of a finished audit."""
    by_kind = Counter(f["kind"] for f in snapshot["findings"])
    return {
        "state": "done",
        "snapshot_sha256": data_sha,
        "findings_by_kind": dict(sorted(by_kind.items())),
        "chart": snapshot["chart"],
        "event_head_at_run": snapshot["event_head"],
    }


def run_audit(
    session: so.Session,
    rt: Runtime,
    quarter: Quarter | str,
    *,
    rescan: bool = False,
    user: User | None = None,
    progress: Progress | None = None,
    at: datetime | None = None,
) -> AuditRun:
    """Run a quarter's audit start to finish in the caller's unit of work.

    The re-scan comes first, before the run row is written: when the caller's transaction has
    not begun yet, none is held through the long scan.
    """
    q = quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter)
    unaccounted = rescan_quarter(session, rt, q, progress) if rescan else None
    run = start_run(session, q, rescan=rescan, user=user)
    return complete_run(
        session,
        rt,
        run,
        progress=progress,
        actor=user.email if user else "cli",
        at=at,
        unaccounted=unaccounted,
    )


def request_run(
    session: so.Session, rt: Runtime, quarter: Quarter, *, rescan: bool, user: User
) -> AuditRun:
    """Start an audit someone asked for: finished here, or with a re-scan by the worker.

    The worker's job is queued after the caller's commit; meanwhile the run shows "running".
    """
    run = start_run(session, quarter, rescan=rescan, user=user)
    if rescan:
        # Face detection is CPU heavy: the worker does it while the page shows progress.
        later(session, "run_audit", run.id)
    else:
        complete_run(session, rt, run, actor=events.actor_of(user))
    return run


def record_progress(session: so.Session, run_id: int, done: int, total: int) -> None:
    """Keep a running audit's progress on its row, for the pages that poll it."""
    session.execute(
        sa.update(AuditRun)
        .where(AuditRun.id == run_id, AuditRun.report_key.is_(None))
        .values(summary=json.dumps({"state": "running", "done": done, "total": total}))
    )


def mark_failed(session: so.Session, run_id: int, error: BaseException) -> None:
    """Mark an unfinished run as failed, with the start of the error's text."""
    failed = session.get(AuditRun, run_id)
    if failed is not None and not failed.report_key:
        failed.summary = json.dumps({"state": "failed", "error": str(error)[:_ERROR_CHARS]})
