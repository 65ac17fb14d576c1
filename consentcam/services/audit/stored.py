"""Audit runs as stored: looking them up, their state, and their report files read back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun, Event, Publication
from consentcam.runtime import Runtime
from consentcam.storage import sha256_bytes
from consentcam.wording import N_, WordedError


class AuditError(WordedError, ValueError):
    """An audit cannot be run or signed as asked."""


class ReportTampered(RuntimeError):
    """A stored report no longer matches the SHA-256 kept when it was made."""


def in_scope(quarter: Quarter) -> sa.ColumnElement[bool]:
    """Publications the quarter's audit covers: out by its end, and live or taken down within it."""
    return sa.and_(
        Publication.published_at < quarter.end,
        sa.or_(Publication.live.is_(True), Publication.removed_at >= quarter.start),
    )


def report_key(run: AuditRun) -> str:
    return f"reports/audit-{run.id}-{run.quarter}.html"


def snapshot_key(run: AuditRun) -> str:
    return f"reports/audit-{run.id}-{run.quarter}.json"


def summary_of(run: AuditRun) -> dict[str, Any]:
    return json.loads(run.summary) if run.summary else {}


def progress_of(run: AuditRun) -> dict[str, Any]:
    """State of a run for the progress bar: running (done/total), done or failed."""
    summary = summary_of(run)
    state = summary.get("state", "done" if run.report_key else "running")
    return {
        "id": run.id,
        "state": state,
        "done": int(summary.get("done", 0)),
        "total": int(summary.get("total", 0)),
        "error": summary.get("error"),
    }


def get_run(session: so.Session, audit_id: int) -> AuditRun | None:
    """The audit run with this id as it is stored now (None when there is none)."""
    return session.get(AuditRun, audit_id, populate_existing=True)


def runs(session: so.Session, limit: int = 200) -> list[AuditRun]:
    return list(session.scalars(sa.select(AuditRun).order_by(AuditRun.id.desc()).limit(limit)))


def quarter_signed(session: so.Session, quarter: Quarter | str) -> bool:
    """Tell whether the quarter has at least one signed-off audit run."""
    code = str(quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter))
    found = session.scalar(
        sa.select(AuditRun.id)
        .where(AuditRun.quarter == code, AuditRun.signed_at.is_not(None))
        .limit(1)
    )
    return found is not None


def latest_signed(session: so.Session, quarters: Iterable[str]) -> dict[str, AuditRun]:
    out: dict[str, AuditRun] = {}
    for run in session.scalars(
        sa.select(AuditRun)
        .where(AuditRun.quarter.in_(list(quarters)), AuditRun.signed_at.is_not(None))
        .order_by(AuditRun.signed_at)
    ):
        out[run.quarter] = run
    return out


@dataclass(frozen=True)
class QuarterState:
    """How far a quarter's audit is signed: ``state`` is "signed" (a signed run made after the
    quarter ended covers all of it), "partly" (signed, but run before the quarter's end, so the
    rest is not covered yet), "open" (nothing signed) or "before" (the quarter ended before this
    instance was set up: nothing to audit)."""

    quarter: Quarter
    state: str
    run: AuditRun | None = None


def quarter_states(session: so.Session, quarters: Iterable[Quarter]) -> list[QuarterState]:
    """The audit state of each quarter, in the order given."""
    wanted = list(quarters)
    started = session.scalar(sa.select(sa.func.min(Event.at)))
    signed_runs: dict[str, list[AuditRun]] = {}
    for run in session.scalars(
        sa.select(AuditRun)
        .where(AuditRun.quarter.in_([str(q) for q in wanted]), AuditRun.signed_at.is_not(None))
        .order_by(AuditRun.signed_at)
    ):
        signed_runs.setdefault(run.quarter, []).append(run)
    return [_quarter_state(q, signed_runs.get(str(q), []), started) for q in wanted]


def _quarter_state(q: Quarter, signed: list[AuditRun], started: datetime | None) -> QuarterState:
    whole = [r for r in signed if _aware(r.created_at) >= q.end]
    if whole:
        return QuarterState(q, "signed", whole[-1])
    if signed:
        return QuarterState(q, "partly", signed[-1])
    if started is not None and _aware(started) >= q.end:
        return QuarterState(q, "before")
    return QuarterState(q, "open")


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def read_report(rt: Runtime, run: AuditRun) -> bytes:
    """The stored HTML report, checked against the SHA-256 kept when it was made."""
    if not run.report_key or not run.report_sha256:
        raise AuditError(N_("this audit has no report yet"))
    try:
        data = rt.storage.read(run.report_key)
    except FileNotFoundError as exc:
        raise ReportTampered(f"the report file of audit {run.id} is missing") from exc
    if sha256_bytes(data) != run.report_sha256:
        raise ReportTampered(
            f"the report of audit {run.id} was changed after it was made: its SHA-256 no "
            "longer matches"
        )
    return data


def read_snapshot(rt: Runtime, run: AuditRun) -> dict[str, Any]:
    """The data behind the report (for CSV and PDF), checked against its SHA-256."""
    expected = summary_of(run).get("snapshot_sha256")
    if not run.report_key or not expected:
        raise AuditError(N_("this audit has no report yet"))
    try:
        data = rt.storage.read(snapshot_key(run))
    except FileNotFoundError as exc:
        raise ReportTampered(f"the data of audit {run.id} is missing") from exc
    if sha256_bytes(data) != expected:
        raise ReportTampered(f"the data of audit {run.id} was changed after it was made")
    return json.loads(data)  # type: ignore[no-any-return]
