"""API: quarterly audits: list, run, read and sign off."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, jsonify

from consentcam.domain.audit import Quarter
from consentcam.models import AuditRun
from consentcam.services import audit as audits
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, json_body, require_owner, schema

AUDIT = schema(
    "Audit",
    {
        "type": "object",
        "required": [
            "id",
            "quarter",
            "state",
            "rescan",
            "created_at",
            "publication_count",
            "finding_count",
            "findings_by_kind",
            "report_sha256",
            "signed_at",
            "signer_name",
            "progress",
        ],
        "properties": {
            "id": {"type": "integer"},
            "quarter": {"type": "string", "example": "2026Q4"},
            "state": {"type": "string", "enum": ["running", "done", "failed"]},
            "rescan": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "publication_count": {"type": "integer"},
            "finding_count": {"type": "integer"},
            "findings_by_kind": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
            },
            "report_sha256": {"type": "string", "nullable": True},
            "signed_at": {"type": "string", "format": "date-time", "nullable": True},
            "signer_name": {"type": "string", "nullable": True},
            "progress": {
                "type": "object",
                "required": ["done", "total"],
                "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            },
        },
    },
)
AUDIT_LIST = schema(
    "AuditList",
    {
        "type": "object",
        "required": ["audits"],
        "properties": {"audits": {"type": "array", "items": AUDIT}},
    },
)
RUN_BODY = schema(
    "AuditRunRequest",
    {
        "type": "object",
        "required": ["quarter"],
        "properties": {
            "quarter": {
                "type": "string",
                "pattern": r"^\s*\d{4}\s*-?\s*[Qq]\s*[1-4]\s*$",
                "example": "2026Q4",
            },
            "rescan": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    },
)
SIGN_BODY = schema(
    "AuditSignRequest",
    {
        "type": "object",
        "required": ["signer_name"],
        "properties": {"signer_name": {"type": "string", "minLength": 1, "maxLength": 200}},
        "additionalProperties": False,
    },
)


def audit_json(run: AuditRun) -> dict[str, Any]:
    state = audits.progress_of(run)
    summary = audits.summary_of(run)
    return {
        "id": run.id,
        "quarter": run.quarter,
        "state": state["state"],
        "rescan": run.rescan,
        "created_at": run.created_at.isoformat(),
        "publication_count": run.publication_count,
        "finding_count": run.finding_count,
        "findings_by_kind": summary.get("findings_by_kind") or {},
        "report_sha256": run.report_sha256,
        "signed_at": run.signed_at.isoformat() if run.signed_at else None,
        "signer_name": run.signer_name,
        "progress": {"done": state["done"], "total": state["total"]},
    }


def _run(audit_id: int) -> AuditRun:
    run = db().get(AuditRun, audit_id)
    if run is None:
        abort(404, description=f"no audit {audit_id}")
    return run


@bp.get("/audits")
@documented(
    "/audits",
    "get",
    "List audit runs, newest first",
    tag="audits",
    response=AUDIT_LIST,
    owner_only=True,
)
def list_audits() -> Any:
    require_owner()
    return jsonify({"audits": [audit_json(r) for r in audits.runs(db())]})


@bp.post("/audits")
@documented(
    "/audits",
    "post",
    "Run a quarter's audit (with rescan: in the background; poll GET /audits/{audit_id})",
    tag="audits",
    response=AUDIT,
    status=201,
    body=RUN_BODY,
    owner_only=True,
)
def create_audit() -> Any:
    require_owner()
    body = json_body()
    unknown = sorted(set(body) - {"quarter", "rescan"})
    if unknown:
        abort(422, description=f"unknown field(s): {', '.join(unknown)}")
    quarter_text = body.get("quarter")
    rescan = body.get("rescan", False)
    if not isinstance(quarter_text, str):
        abort(422, description="quarter is required: a string like 2026Q4")
    if not isinstance(rescan, bool):
        abort(422, description="rescan must be true or false")
    try:
        quarter = Quarter.parse(quarter_text)
    except ValueError as exc:
        abort(422, description=str(exc))
    user = api_user()
    run = audits.start_run(db(), quarter, rescan=rescan, user=user)
    db().commit()
    if rescan:
        current_app.extensions["jobs"].enqueue("run_audit", run.id)
        db().expire_all()
        run = _run(run.id)
    else:
        audits.complete_run(db(), runtime(), run, actor=user.email)
        db().commit()
    return jsonify(audit_json(run)), 201


@bp.get("/audits/<int:audit_id>")
@documented(
    "/audits/{audit_id}", "get", "One audit run", tag="audits", response=AUDIT, owner_only=True
)
def get_audit(audit_id: int) -> Any:
    require_owner()
    return jsonify(audit_json(_run(audit_id)))


@bp.post("/audits/<int:audit_id>/sign")
@documented(
    "/audits/{audit_id}/sign",
    "post",
    "Sign off a finished audit; a signed audit cannot be changed (409 when signed already)",
    tag="audits",
    response=AUDIT,
    body=SIGN_BODY,
    owner_only=True,
)
def sign_audit(audit_id: int) -> Any:
    require_owner()
    body = json_body()
    unknown = sorted(set(body) - {"signer_name"})
    if unknown:
        abort(422, description=f"unknown field(s): {', '.join(unknown)}")
    name = body.get("signer_name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        abort(
            422, description="signer_name is required: the signer's full name, 1 to 200 characters"
        )
    run = _run(audit_id)
    if run.signed_at is not None:
        abort(409, description="this audit is signed already; a signed audit cannot be changed")
    if not run.report_key:
        abort(409, description="this audit is still running; sign it when the report is ready")
    try:
        audits.sign(db(), runtime(), run, api_user(), name)
    except audits.ReportTampered as exc:
        abort(409, description=str(exc))
    except audits.AuditError as exc:
        abort(422, description=str(exc))
    db().commit()
    audits.checkpoint_signed(runtime(), run)
    return jsonify(audit_json(run))
