"""Removal tasks: the posts that must come down, overdue first, and closing them by hand."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from consentcam.models import Publication, RemovalTask, utcnow
from consentcam.security import MAX_ID
from consentcam.services import removals
from consentcam.web import db, transaction
from consentcam.web.auth import owner_required
from consentcam.web.translate import gettext as _
from consentcam.web.words import error_text

bp = Blueprint("removals", __name__, url_prefix="/removals")

PAGE_SIZE = 100


class CloseForm(FlaskForm):
    note = TextAreaField("Note (optional)", validators=[Length(max=2000)])


def overdue_badge() -> int:
    """Overdue removals, counted once per request for the navigation badge."""
    if "removals_overdue" not in g:
        g.removals_overdue = removals.overdue_count(db())
    return int(g.removals_overdue)


def init_app(app: Any) -> None:
    @app.context_processor
    def _removals_badge() -> dict[str, Any]:
        if not current_user.is_authenticated:
            return {"removals_overdue": 0}
        return {"removals_overdue": overdue_badge()}


@bp.route("/")
@login_required
def index() -> Any:
    status = request.args.get("status", "open")
    if status not in (*removals.STATUSES, "all"):
        status = "open"
    person_id = request.args.get("person_id", type=int)
    if person_id is not None and not 0 < person_id <= MAX_ID:
        abort(404)  # no such person (and PostgreSQL would overflow comparing the id)
    now = utcnow()
    page = removals.task_page(
        db(), None if status == "all" else status, person_id=person_id, now=now, limit=PAGE_SIZE
    )
    # The menu's badge counts everyone's overdue tasks, whatever this list shows.
    g.removals_overdue = page.overdue
    return render_template(
        "removals/index.html",
        rows=page.rows,
        status=status,
        counts=page.counts,
        now=now,
        person=page.person,
        has_thumbs=_has_thumbs(),
    )


def _has_thumbs() -> bool:
    return "photos.thumbnail" in current_app.view_functions


def _load(task_id: int) -> tuple[RemovalTask, Publication, str | None]:
    row = removals.task_row(db(), task_id)
    if row is None:
        abort(404)
    return row


@bp.route("/<int:task_id>")
@login_required
def detail(task_id: int) -> Any:
    task, pub, name = _load(task_id)
    return render_template(
        "removals/detail.html",
        task=task,
        pub=pub,
        person_name=name,
        form=CloseForm(),
        now=utcnow(),
        has_thumbs=_has_thumbs(),
    )


@bp.route("/<int:task_id>/close", methods=["POST"])
@owner_required
def close(task_id: int) -> Any:
    task, _pub, _name = _load(task_id)
    form = CloseForm()
    if not form.validate_on_submit():
        flash(_("The note may be at most 2000 characters."), "error")
        return redirect(url_for("removals.detail", task_id=task_id))
    try:
        with transaction() as session:
            removals.close_task(session, task, current_user._get_current_object(), form.note.data)
    except removals.RemovalError as exc:
        flash(error_text(exc), "error")
    else:
        flash(_("Marked as taken down. Thank you."), "success")
    return redirect(url_for("removals.detail", task_id=task_id))
