"""Quarterly audits: run one (optionally with a re-scan in the background), read it, sign it off."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun, User, utcnow
from consentcam.services import audit as audits
from consentcam.services.records import record_of_processing
from consentcam.web import db, runtime, transaction
from consentcam.web.auth import owner_required
from consentcam.web.translate import gettext as _
from consentcam.web.words import error_text
from consentcam.wording import N_

bp = Blueprint("audits", __name__, url_prefix="/audits")


class RunForm(FlaskForm):
    quarter = StringField("Quarter", validators=[DataRequired(), Length(max=10)])
    rescan = BooleanField("Also scan the published copies again (slower)")


class SignForm(FlaskForm):
    signer_name = StringField("Your full name", validators=[DataRequired(), Length(max=200)])
    reviewed = BooleanField(
        "I have reviewed this report and its findings", validators=[DataRequired()]
    )


SIGNED_OFF = N_("Signed off by %(name)s on %(at)s.")


def _run(audit_id: int) -> AuditRun:
    run = audits.get_run(db(), audit_id)
    if run is None:
        abort(404)
    return run


def _quarters(now: Any, count: int = 4) -> list[Quarter]:
    q = Quarter.current(now)
    out = [q]
    for _i in range(count - 1):
        q = q.previous()
        out.append(q)
    return out


@bp.route("/")
@owner_required
def index() -> Any:
    now = utcnow()
    quarters = _quarters(now)
    form = RunForm(quarter=str(quarters[0]))
    return render_template(
        "audits/index.html",
        runs=audits.runs(db()),
        quarters=audits.quarter_states(db(), quarters),
        form=form,
        progress_of=audits.progress_of,
        summary_of=audits.summary_of,
    )


@bp.route("/run", methods=["POST"])
@owner_required
def run() -> Any:
    form = RunForm()
    if not form.validate_on_submit():
        flash(_("Choose a quarter, written like 2026Q4."), "error")
        return redirect(url_for("audits.index"))
    try:
        quarter = Quarter.parse(form.quarter.data or "")
    except ValueError:
        flash(_("Choose a quarter, written like 2026Q4."), "error")
        return redirect(url_for("audits.index"))
    user: User = current_user._get_current_object()
    with transaction() as session:
        new = audits.request_run(
            session, runtime(), quarter, rescan=bool(form.rescan.data), user=user
        )
    return redirect(url_for("audits.detail", audit_id=new.id))


@bp.route("/<int:audit_id>")
@owner_required
def detail(audit_id: int) -> Any:
    run = _run(audit_id)
    state = audits.progress_of(run)
    problem = None
    if run.report_key:
        try:
            audits.read_report(runtime(), run)
        except audits.ReportTampered as exc:
            problem = str(exc)
    findings: list[dict[str, Any]] = []
    chart_svg = None
    if run.report_key and problem is None:
        from flask_babel import format_date, gettext
        from markupsafe import Markup

        from consentcam.reports import FINDING_LABELS, finding_text
        from consentcam.reports.chart import svg

        try:
            snapshot = audits.read_snapshot(runtime(), run)
        except (audits.ReportTampered, audits.AuditError) as exc:
            problem = str(exc)
        else:

            def day(iso: str) -> str:
                return str(format_date(date.fromisoformat(iso[:10]), "medium"))

            findings = [
                {
                    **f,
                    "label": FINDING_LABELS.get(f["kind"], f["kind"]),
                    "message": finding_text(f, gettext, day),
                }
                for f in snapshot["findings"][:200]
            ]
            # Built from escaped text and numbers only (see reports.chart.svg).
            chart_svg = Markup(svg(snapshot["chart"], gettext=gettext))
    form = SignForm()
    return render_template(
        "audits/detail.html",
        run=run,
        state=state,
        summary=audits.summary_of(run),
        problem=problem,
        form=form,
        findings=findings,
        chart_svg=chart_svg,
    )


@bp.route("/<int:audit_id>/progress")
@owner_required
def progress(audit_id: int) -> Response:
    run = _run(audit_id)
    return jsonify(audits.progress_of(run))


@bp.route("/<int:audit_id>/report")
@owner_required
def report(audit_id: int) -> Any:
    """The stored HTML report, checked against its SHA-256 (shown inline, sandboxed)."""
    run = _run(audit_id)
    try:
        data = audits.read_report(runtime(), run)
    except audits.ReportTampered as exc:
        abort(409, description=str(exc))
    except audits.AuditError:
        abort(404)
    response = Response(data, mimetype="text/html")
    # The report is a stored document: no scripts, no forms, nothing loaded from elsewhere.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; sandbox"
    )
    # Shown inside the audit page's frame, so framing by this site alone is allowed.
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = (
            f'attachment; filename="audit-{run.quarter}-{run.id}.html"'
        )
    return response


@bp.route("/<int:audit_id>/download.<fmt>")
@owner_required
def download(audit_id: int, fmt: str) -> Any:
    run = _run(audit_id)
    if fmt not in ("csv", "pdf"):
        abort(404)
    try:
        snapshot = audits.read_snapshot(runtime(), run)
        audits.read_report(runtime(), run)
    except audits.ReportTampered as exc:
        abort(409, description=str(exc))
    except audits.AuditError:
        abort(404)
    if fmt == "csv":
        from consentcam.reports.csv import render_csv

        body: bytes = render_csv(snapshot).encode("utf-8")
        mime = "text/csv; charset=utf-8"
    else:
        from consentcam.reports import i18n
        from consentcam.reports.pdf import render_pdf

        signed = None
        if run.signed_at:
            # In the report's own language and time zone, like the rest of the PDF.
            language = str(snapshot.get("language") or "en")
            moment = i18n.environment(language, str(snapshot.get("time_zone") or "")).filters[
                "moment"
            ]
            signed = i18n.gettext(
                language,
                SIGNED_OFF,
                name=run.signer_name or "",
                at=moment(run.signed_at),
            )
        body = render_pdf(snapshot, html_sha256=run.report_sha256, signed=signed)
        mime = "application/pdf"
    response = Response(body, mimetype=mime)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="audit-{run.quarter}-{run.id}.{fmt}"'
    )
    return response


@bp.route("/<int:audit_id>/sign", methods=["POST"])
@owner_required
def sign(audit_id: int) -> Any:
    run = _run(audit_id)
    form = SignForm()
    if not form.validate_on_submit():
        flash(
            _("Type your full name and tick the box to confirm you have reviewed the report."),
            "error",
        )
        return redirect(url_for("audits.detail", audit_id=run.id))
    try:
        with transaction() as session:
            user = current_user._get_current_object()
            audits.sign(session, runtime(), run, user, form.signer_name.data or "")
    except (audits.AuditError, audits.ReportTampered) as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("audits.detail", audit_id=audit_id))
    audits.checkpoint_signed(runtime(), run)
    flash(_("Signed off. The report can no longer be changed."), "success")
    return redirect(url_for("audits.detail", audit_id=run.id))


@bp.route("/records")
@owner_required
def records() -> Any:
    """The record of processing activities (Art. 30), from this instance's settings."""
    from flask_babel import gettext

    from consentcam.web import select_locale

    record = record_of_processing(runtime().settings, gettext=gettext, language=select_locale())
    return render_template("audits/records.html", record=record)


def init_app(app: Any) -> None:
    pass
