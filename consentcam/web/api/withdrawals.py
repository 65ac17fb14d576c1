"""JSON API for withdrawing consent and for removal tasks."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request

from consentcam.domain.types import Channel
from consentcam.models import Person, Publication, RemovalTask, utcnow
from consentcam.runtime import Runtime
from consentcam.security import MAX_ID, parse_id, parse_int
from consentcam.services import removals
from consentcam.services.withdrawal import WithdrawalError, withdraw_consent
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, documented, json_body, require_owner, schema

CHANNELS = [c.value for c in Channel]

WITHDRAWAL_REQUEST = schema(
    "WithdrawalRequest",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "channels": {
                "description": 'The channels to withdraw, or "all". An empty list withdraws '
                "no channel (useful with biometric: true).",
                "oneOf": [
                    {"type": "string", "enum": ["all"]},
                    {
                        "type": "array",
                        "items": {"type": "string", "enum": CHANNELS},
                        "uniqueItems": True,
                        "maxItems": len(CHANNELS),
                    },
                ],
            },
            "biometric": {
                "type": "boolean",
                "default": False,
                "description": "Also end automatic recognition and delete the person's templates.",
            },
        },
        "required": ["channels"],
    },
)

REMOVAL_TASK = schema(
    "RemovalTask",
    {
        "type": "object",
        "required": [
            "id",
            "publication_id",
            "person_id",
            "person_name",
            "channel",
            "url",
            "method",
            "status",
            "overdue",
            "due_at",
            "attempts",
            "last_error",
            "created_at",
            "closed_at",
            "closed_by",
            "note",
        ],
        "properties": {
            "id": {"type": "integer"},
            "publication_id": {"type": "integer"},
            "person_id": {"type": "integer", "nullable": True},
            "person_name": {"type": "string", "nullable": True},
            "channel": {"type": "string"},
            "url": {"type": "string", "nullable": True},
            "method": {"type": "string", "enum": ["api", "manual"]},
            "status": {"type": "string", "enum": ["open", "done"]},
            "overdue": {"type": "boolean"},
            "due_at": {"type": "string", "format": "date-time"},
            "attempts": {"type": "integer"},
            "last_error": {"type": "string", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "closed_at": {"type": "string", "format": "date-time", "nullable": True},
            "closed_by": {"type": "string", "nullable": True},
            "note": {"type": "string", "nullable": True},
        },
    },
)

WITHDRAWAL_RESULT = schema(
    "WithdrawalResult",
    {
        "type": "object",
        "required": [
            "person_id",
            "at",
            "channels",
            "changed",
            "withdrawn",
            "biometric_withdrawn",
            "blocked_queue_item_ids",
            "removal_tasks",
            "references_deleted",
            "face_templates_deleted",
        ],
        "properties": {
            "person_id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "channels": {"type": "array", "items": {"type": "string", "enum": CHANNELS}},
            "changed": {
                "type": "boolean",
                "description": "False when it had all been done before.",
            },
            "withdrawn": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["consent_id", "channel"],
                    "properties": {
                        "consent_id": {"type": "integer"},
                        "channel": {"type": "string"},
                    },
                },
            },
            "biometric_withdrawn": {"type": "array", "items": {"type": "integer"}},
            "blocked_queue_item_ids": {"type": "array", "items": {"type": "integer"}},
            "removal_tasks": {
                "type": "array",
                "description": "Removal tasks this call opened (none on a repeat).",
                "items": {
                    "type": "object",
                    "required": ["id", "publication_id", "channel", "method", "url", "due_at"],
                    "properties": {
                        "id": {"type": "integer"},
                        "publication_id": {"type": "integer"},
                        "channel": {"type": "string"},
                        "method": {"type": "string", "enum": ["api", "manual"]},
                        "url": {"type": "string", "nullable": True},
                        "due_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "references_deleted": {"type": "integer"},
            "face_templates_deleted": {"type": "integer"},
        },
    },
)

TASK_LIST = schema(
    "RemovalTaskList",
    {
        "type": "object",
        "required": ["tasks", "counts"],
        "properties": {
            "tasks": {"type": "array", "items": REMOVAL_TASK},
            "counts": {
                "type": "object",
                "required": ["open", "overdue", "done"],
                "properties": {
                    "open": {"type": "integer"},
                    "overdue": {"type": "integer"},
                    "done": {"type": "integer"},
                },
            },
        },
    },
)

CLOSE_REQUEST = schema(
    "RemovalCloseRequest",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"note": {"type": "string", "maxLength": 2000, "nullable": True}},
    },
)

MAX_LIMIT = 500


def task_json(task: RemovalTask, pub: Publication, person_name: str | None) -> dict[str, Any]:
    return {
        "id": task.id,
        "publication_id": pub.id,
        "person_id": task.person_id,
        "person_name": person_name,
        "channel": pub.channel,
        "url": pub.url,
        "method": task.method,
        "status": task.status,
        "overdue": removals.is_overdue(task),
        "due_at": task.due_at.isoformat(),
        "attempts": task.attempts,
        "last_error": task.last_error,
        "created_at": task.created_at.isoformat(),
        "closed_at": task.closed_at.isoformat() if task.closed_at else None,
        "closed_by": task.closed_by_name,
        "note": task.note,
    }


@bp.post("/people/<int:person_id>/withdrawals")
@documented(
    "/people/{person_id}/withdrawals",
    "post",
    "Withdraw a person's consent for channels (and optionally biometrics), in one step",
    tag="withdrawals",
    body=WITHDRAWAL_REQUEST,
    response=WITHDRAWAL_RESULT,
    owner_only=True,
)
def withdraw_person(person_id: int) -> tuple[Response, int]:
    require_owner()
    data = json_body()
    unknown = sorted(set(data) - {"channels", "biometric"})
    if unknown:
        abort(422, description=f"unknown field(s): {', '.join(unknown)}")
    if "channels" not in data:
        abort(422, description='channels is required: a list of channel names, or "all"')
    channels = data["channels"]
    if not (
        channels == "all"
        or (isinstance(channels, list) and all(isinstance(c, str) for c in channels))
    ):
        abort(422, description='channels must be "all" or a list of channel names')
    biometric = data.get("biometric", False)
    if not isinstance(biometric, bool):
        abort(422, description="biometric must be true or false")
    person = db().get(Person, person_id) if person_id <= 2**62 else None
    if person is None or person.erased_at is not None:
        abort(404, description=f"no person {person_id}")
    rt: Runtime = runtime()
    try:
        with transaction() as session:
            result = withdraw_consent(session, rt, person, channels, biometric, api_user())
    except WithdrawalError as exc:
        abort(422, description=str(exc))
    return jsonify(result.as_json()), 200


@bp.get("/removal-tasks")
@documented(
    "/removal-tasks",
    "get",
    "List removal tasks, overdue first",
    tag="removals",
    response=TASK_LIST,
    parameters=[
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {
                "type": "string",
                "enum": ["open", "overdue", "done", "all"],
                "default": "open",
            },
        },
        {
            "name": "person_id",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
        },
    ],
)
def list_removal_tasks() -> Response:
    status = request.args.get("status", "open")
    if status not in (*removals.STATUSES, "all"):
        abort(400, description="status must be open, overdue, done or all")
    limit_raw = request.args.get("limit", "100")
    limit = parse_int(limit_raw, 1, MAX_LIMIT)
    if limit is None:
        abort(400, description=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    now = utcnow()
    query = removals.task_query(None if status == "all" else status, now)
    person_raw = request.args.get("person_id")
    if person_raw is not None:
        person_id = parse_id(person_raw)
        if person_id is None:
            abort(400, description="person_id must be a positive whole number")
        query = query.where(RemovalTask.person_id == person_id)
    rows = db().execute(query.limit(limit)).all()
    c = removals.counts(db(), now)
    return jsonify(
        {
            "tasks": [task_json(t, p, n) for t, p, n in rows],
            "counts": {"open": c.open, "overdue": c.overdue, "done": c.done},
        }
    )


def _task_row(task_id: int) -> tuple[RemovalTask, Publication, str | None]:
    if task_id > 2**62:
        abort(404, description=f"no removal task {task_id}")
    row = db().execute(removals.task_query(None).where(RemovalTask.id == task_id)).first()
    if row is None:
        abort(404, description=f"no removal task {task_id}")
    return row[0], row[1], row[2]


@bp.get("/removal-tasks/<int:task_id>")
@documented(
    "/removal-tasks/{task_id}", "get", "One removal task", tag="removals", response=REMOVAL_TASK
)
def get_removal_task(task_id: int) -> Response:
    return jsonify(task_json(*_task_row(task_id)))


@bp.post("/removal-tasks/<int:task_id>/close")
@documented(
    "/removal-tasks/{task_id}/close",
    "post",
    "Record that the post was taken down (closes the task; the post is no longer live)",
    tag="removals",
    body=CLOSE_REQUEST,
    response=REMOVAL_TASK,
    owner_only=True,
)
def close_removal_task(task_id: int) -> Response:
    require_owner()
    data = json_body()
    unknown = sorted(set(data) - {"note"})
    if unknown:
        abort(422, description=f"unknown field(s): {', '.join(unknown)}")
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        abort(422, description="note must be text")
    task, pub, name = _task_row(task_id)
    if task.status == "done":
        abort(409, description=f"removal task {task_id} was already closed")
    try:
        removals.close_task(db(), task, api_user(), note)
    except removals.RemovalError as exc:
        abort(422, description=str(exc))
    return jsonify(task_json(task, pub, name))
