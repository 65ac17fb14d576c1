"""API: quarterly audits: list, run, read and sign off."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from consentcam.domain.audit import Quarter
from consentcam.domain.vocabulary import iso
from consentcam.models import AuditRun
from consentcam.services import audit as audits
from consentcam.services import listings
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    Closed,
    Shape,
    array,
    boolean,
    integer,
    mapping,
    moment,
    nested,
    text,
)


class AuditProgress(Shape):
    done = integer(required=True)
    total = integer(required=True)


class AuditSchema(Shape):
    id = integer(required=True)
    quarter = text(required=True, example="2026Q4")
    state = text(required=True, choices=["running", "done", "failed"])
    rescan = boolean(required=True)
    created_at = moment(required=True)
    publication_count = integer(required=True)
    finding_count = integer(required=True)
    findings_by_kind = mapping(integer(), required=True)
    report_sha256 = text(required=True, nullable=True)
    signed_at = moment(required=True, nullable=True)
    signer_name = text(required=True, nullable=True)
    progress = nested(AuditProgress, required=True)


class AuditListSchema(Shape):
    audits = array(nested(AuditSchema), required=True)


class AuditRunRequestSchema(Closed):
    quarter = text(
        required=True,
        pattern=r"^\s*\d{4}\s*-?\s*[Qq]\s*[1-4]\s*$",
        pattern_error="{{field}} must be a quarter such as 2026Q4",
        example="2026Q4",
    )
    rescan = boolean(default=False)


class AuditSignRequestSchema(Closed):
    signer_name = text(required=True, min_length=1, max_length=200)


def audit_json(run: AuditRun) -> dict[str, Any]:
    state = audits.progress_of(run)
    summary = audits.summary_of(run)
    return {
        "id": run.id,
        "quarter": run.quarter,
        "state": state["state"],
        "rescan": run.rescan,
        "created_at": iso(run.created_at),
        "publication_count": run.publication_count,
        "finding_count": run.finding_count,
        "findings_by_kind": summary.get("findings_by_kind") or {},
        "report_sha256": run.report_sha256,
        "signed_at": iso(run.signed_at),
        "signer_name": run.signer_name,
        "progress": {"done": state["done"], "total": state["total"]},
    }


def _run(audit_id: int) -> AuditRun:
    return found(listings.audit_run(db(), audit_id), f"no audit {audit_id}")


@bp.endpoint("GET", "/audits", tag="audits", response=AuditListSchema)
def list_audits() -> Any:
    """List audit runs, newest first"""
    return jsonify({"audits": [audit_json(r) for r in audits.runs(db())]})


@bp.endpoint(
    "POST", "/audits", tag="audits", body=AuditRunRequestSchema, response=AuditSchema, status=201
)
def create_audit(body: dict[str, Any]) -> Any:
    """Run a quarter's audit (with rescan: in the background; poll GET /audits/{audit_id})"""
    try:
        quarter = Quarter.parse(body["quarter"])
    except ValueError as exc:
        abort(422, description=str(exc))
    with transaction() as session:
        # Finished here, or (with a re-scan) by the worker once this commits.
        run = audits.request_run(
            session, runtime(), quarter, rescan=body["rescan"], user=api_user()
        )
    if run.rescan:
        db().expire(run)  # the worker may have moved it on already
    return jsonify(audit_json(run)), 201


@bp.endpoint("GET", "/audits/<int:audit_id>", tag="audits", response=AuditSchema)
def get_audit(audit_id: int) -> Any:
    """One audit run"""
    return jsonify(audit_json(_run(audit_id)))


@bp.endpoint(
    "POST",
    "/audits/<int:audit_id>/sign",
    tag="audits",
    body=AuditSignRequestSchema,
    response=AuditSchema,
)
def sign_audit(body: dict[str, Any], audit_id: int) -> Any:
    """Sign off a finished audit; a signed audit cannot be changed (409 when signed already)"""
    name = body["signer_name"]
    if not name.strip():
        abort(
            422, description="signer_name is required: the signer's full name, 1 to 200 characters"
        )
    run = _run(audit_id)
    if run.signed_at is not None:
        abort(409, description="this audit is signed already; a signed audit cannot be changed")
    if not run.report_key:
        abort(409, description="this audit is still running; sign it when the report is ready")
    try:
        with transaction() as session:
            audits.sign(session, runtime(), run, api_user(), name)
    except audits.ReportTampered as exc:
        abort(409, description=str(exc))
    except audits.AuditError as exc:
        abort(422, description=str(exc))
    # Only once the signing is committed: the event head kept outside the database follows it.
    audits.checkpoint_signed(runtime(), run)
    return jsonify(audit_json(run))
