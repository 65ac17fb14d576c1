"""Quarterly audit: build, store, sign off and look up audit runs.

    stored.py          stored runs: look-ups, their state, reading the report back
    snapshot.py        what the report shows (snapshot_facts.py loads it in bulk)
    rescan.py          the published copies scanned again for faces nobody reviewed
    running.py         a run from its row to its stored report
    signoff.py         the owner's sign-off
    minis.py           the small photo copies the HTML report embeds, and their backfill
    tasks.py           the background jobs

The event log's head (the event-head file, ``verify_log``) lives with the log in
``services/events.py``; its names are offered here too.
"""

from __future__ import annotations

from consentcam.services.audit.minis import (
    BACKFILL_BATCH,
    MINI_THUMB_SIDE,
    Backfill,
    _data_uri,
    _safe_key,
    backfill_done_marker,
    backfill_minis,
    mini_thumbnail,
    mini_thumbnails,
)
from consentcam.services.audit.rescan import (
    RESCAN_METHOD,
    Box,
    Progress,
    RescanTarget,
    cleared_box,
    rescan_counts,
    rescan_quarter,
    rescan_targets,
    unaccounted_faces,
)
from consentcam.services.audit.running import (
    complete_run,
    mark_failed,
    record_progress,
    request_run,
    run_audit,
    start_run,
)
from consentcam.services.audit.signoff import checkpoint_signed, sign
from consentcam.services.audit.snapshot import SNAPSHOT_FORMAT, build_snapshot
from consentcam.services.audit.stored import (
    AuditError,
    QuarterState,
    ReportTampered,
    get_run,
    latest_signed,
    progress_of,
    quarter_signed,
    quarter_states,
    read_report,
    read_snapshot,
    report_key,
    runs,
    snapshot_key,
    summary_of,
)
from consentcam.services.audit.tasks import register
from consentcam.services.events import (
    LogCheck,
    event_head_path,
    known_heads,
    read_event_head,
    verify_log,
    write_event_head,
)

__all__ = [
    "BACKFILL_BATCH",
    "MINI_THUMB_SIDE",
    "RESCAN_METHOD",
    "SNAPSHOT_FORMAT",
    "AuditError",
    "Backfill",
    "Box",
    "LogCheck",
    "Progress",
    "QuarterState",
    "ReportTampered",
    "RescanTarget",
    "_data_uri",
    "_safe_key",
    "backfill_done_marker",
    "backfill_minis",
    "build_snapshot",
    "checkpoint_signed",
    "cleared_box",
    "complete_run",
    "event_head_path",
    "get_run",
    "known_heads",
    "latest_signed",
    "mark_failed",
    "mini_thumbnail",
    "mini_thumbnails",
    "progress_of",
    "quarter_signed",
    "quarter_states",
    "read_event_head",
    "read_report",
    "read_snapshot",
    "record_progress",
    "register",
    "report_key",
    "request_run",
    "rescan_counts",
    "rescan_quarter",
    "rescan_targets",
    "run_audit",
    "runs",
    "sign",
    "snapshot_key",
    "start_run",
    "summary_of",
    "unaccounted_faces",
    "verify_log",
    "write_event_head",
]
