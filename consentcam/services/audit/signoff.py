"""Signing an audit off: the owner's name on a finished report, and the log's head kept with it."""

from __future__ import annotations

import json

import sqlalchemy.orm as so

from consentcam.models import AuditRun, User, utcnow
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.audit.stored import AuditError, read_report, summary_of
from consentcam.wording import N_

#: Longest signer's name accepted.
_NAME_CHARS = 200


def sign(
    session: so.Session,
    rt: Runtime,
    run: AuditRun,
    user: User,
    signer_name: str,
    *,
    reviewed: bool = True,
) -> AuditRun:
    """Sign off a finished audit. A signed run is never changed again.

    The event log's head at this moment is kept with the run (call ``checkpoint_signed`` after
    the commit to write it to the event-head file too), so `consentcam log verify` can tell if
    events up to it were later removed.
    """
    name = (signer_name or "").strip()
    _check_signable(run, user, name, reviewed=reviewed)
    read_report(rt, run)  # refuse to sign a report that no longer matches its hash
    now = utcnow()
    event = events.record(
        session,
        "audit.signed",
        f"audit:{run.id}",
        {"quarter": run.quarter, "report_sha256": run.report_sha256, "signer_name": name},
        actor=user.email,
        at=now,
    )
    run.signed_at = now
    run.signed_by_id = user.id
    run.signer_name = name
    summary = summary_of(run)
    summary["event_head_at_signing"] = {"seq": event.seq, "hash": event.hash}
    run.summary = json.dumps(summary, sort_keys=True)
    session.flush()
    return run


def _check_signable(run: AuditRun, user: User, name: str, *, reviewed: bool) -> None:
    """Refuse, in words the signer can read, a signing that cannot be made."""
    if run.signed_at is not None:
        raise AuditError(N_("this audit is signed already; a signed audit cannot be changed"))
    if not run.report_key:
        raise AuditError(N_("this audit is still running; sign it when the report is ready"))
    if not reviewed:
        raise AuditError(N_("confirm that you have reviewed the report before signing"))
    if not name or len(name) > _NAME_CHARS:
        raise AuditError(N_("type your full name (at most 200 characters) to sign"))
    if not user.is_owner:
        raise AuditError(N_("only the owner may sign an audit off"))


def checkpoint_signed(rt: Runtime, run: AuditRun) -> None:
    """After the signing is committed, keep its head in the event-head file too."""
    kept = summary_of(run).get("event_head_at_signing")
    if kept:
        events.checkpoint_head(rt, int(kept["seq"]), str(kept["hash"]))
