"""The owner's start page: what needs attention today, in a handful of queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, g, render_template
from flask_login import login_required

from consentcam.domain.audit import Quarter
from consentcam.models import (
    AuditRun,
    ConsentRecord,
    Face,
    Photo,
    QueueItem,
    RemovalTask,
    utcnow,
)
from consentcam.services import removals
from consentcam.web import db, fragments

bp = Blueprint("dashboard", __name__)

URGENT_SHOWN = 3


def attention_counts(session: Any, now: Any) -> dict[str, Any]:
    """Every count on the start page in one query (scalar subqueries, no query per row)."""
    quarter = str(Quarter.current(now))
    is_open = RemovalTask.status == "open"
    # A scanned photo waits for a person while a face is undecided or nobody has confirmed
    # that everyone in it is marked.
    undecided = sa.exists().where(
        Face.photo_id == Photo.id, Face.state.in_(("pending", "suggested"))
    )
    to_review = (
        sa.select(sa.func.count(Photo.id))
        .where(Photo.scan_state == "done", sa.or_(Photo.faces_confirmed_at.is_(None), undecided))
        .scalar_subquery()
    )
    waiting = (
        sa.select(sa.func.count())
        .select_from(Photo)
        .where(Photo.scan_state.in_(("pending", "scanning")))
        .scalar_subquery()
    )
    failed = (
        sa.select(sa.func.count()).select_from(Photo).where(Photo.scan_state == "failed")
    ).scalar_subquery()
    blocked = (
        sa.select(sa.func.count()).select_from(QueueItem).where(QueueItem.status == "blocked")
    ).scalar_subquery()
    open_tasks = (
        sa.select(sa.func.count()).select_from(RemovalTask).where(is_open)
    ).scalar_subquery()
    overdue = (
        sa.select(sa.func.count())
        .select_from(RemovalTask)
        .where(is_open, RemovalTask.due_at <= now)
    ).scalar_subquery()
    signed = (
        sa.select(sa.func.max(AuditRun.signed_at))
        .where(AuditRun.quarter == quarter, AuditRun.signed_at.is_not(None))
        .scalar_subquery()
    )
    # The first day's steps: has anyone signed a consent yet, is any photo uploaded, any face
    # reviewed (EXISTS: one index probe each, whatever the size).
    has_consent = sa.exists().where(ConsentRecord.id.is_not(None))
    has_photo = sa.exists().where(Photo.id.is_not(None))
    has_review = sa.exists().where(Face.state.in_(("confirmed", "not_identifiable")))
    row = session.execute(
        sa.select(
            to_review,
            waiting,
            failed,
            blocked,
            open_tasks,
            overdue,
            signed,
            has_consent,
            has_photo,
            has_review,
        )
    ).one()
    return {
        "to_review": int(row[0] or 0),
        "waiting": int(row[1] or 0),
        "failed": int(row[2] or 0),
        "blocked": int(row[3] or 0),
        "open_removals": int(row[4] or 0),
        "overdue_removals": int(row[5] or 0),
        "audit_signed_at": row[6],
        "quarter": quarter,
        "has_consent": bool(row[7]),
        "has_photo": bool(row[8]),
        "has_review": bool(row[9]),
    }


def link(endpoint: str, **values: Any) -> tuple[str, dict[str, Any]] | None:
    """An (endpoint, arguments) pair if the app has that page and the user may open it, else None.

    (Staff are not sent to a page that only answers 403, such as the audits.)
    """
    from flask_login import current_user

    from consentcam.web import roles

    if endpoint not in current_app.view_functions:
        return None
    if not roles.allowed(roles.role_of(endpoint), current_user):
        return None
    return (endpoint, values)


@bp.route("/")
@login_required
def index() -> Any:
    session = db()
    # Remembered for a few seconds per process; any write (it records an event) forgets them.
    counts = fragments.counted("dashboard", lambda s: attention_counts(s, utcnow()))
    # The navigation badge reuses this count instead of asking again.
    g.removals_overdue = counts["overdue_removals"]

    def content() -> dict[str, Any]:
        now = utcnow()
        urgent = (
            session.execute(removals.task_query("open", now).limit(URGENT_SHOWN)).all()
            if counts["open_removals"]
            else []
        )
        return {
            "counts": counts,
            "urgent": urgent,
            "now": now,
            "links": {
                "review": link("photos.index", state="needs_review"),
                "waiting": link("photos.index", state="scanning"),
                "failed": link("photos.index", state="failed"),
                "blocked": link("queue.index", status="blocked"),
                "removals": link("removals.index", status="open"),
                "overdue": link("removals.index", status="overdue"),
                "audit": link("audits.index"),
                "upload": link("photos.upload"),
                "people": link("people.new"),
                "photos": link("photos.index", state="needs_review"),
            },
        }

    body = fragments.part("dashboard", tuple(counts.values()), "dashboard/_body.html", content)
    return render_template("dashboard/index.html", body=body)
