"""The owner's start page: what needs attention today, in a handful of queries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, render_template
from flask_login import login_required

from consentcam.models import utcnow
from consentcam.services.overview import attention_counts, next_removals
from consentcam.web import db

__all__ = ["attention_counts", "bp", "index", "link"]

bp = Blueprint("dashboard", __name__)

URGENT_SHOWN = 3


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
    now = utcnow()
    counts = attention_counts(session, now)
    # The navigation badge reuses this count instead of asking again.
    g.removals_overdue = counts["overdue_removals"]
    urgent = next_removals(session, now, URGENT_SHOWN) if counts["open_removals"] else []
    links = {
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
    }
    return render_template(
        "dashboard/index.html", counts=counts, urgent=urgent, now=now, links=links
    )
