"""API: removal tasks (list, read, and record that a post was taken down)."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from consentcam.domain.vocabulary import iso
from consentcam.models import Publication, RemovalTask, utcnow
from consentcam.services import listings, removals
from consentcam.web import db, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    MAX_ID,
    Closed,
    Shape,
    array,
    boolean,
    integer,
    moment,
    nested,
    query_choice,
    query_integer,
    text,
)

MAX_LIMIT = 500


class RemovalTaskSchema(Shape):
    id = integer(required=True)
    publication_id = integer(required=True)
    person_id = integer(required=True, nullable=True)
    person_name = text(required=True, nullable=True)
    channel = text(required=True)
    url = text(required=True, nullable=True)
    method = text(required=True, choices=["api", "manual"])
    status = text(required=True, choices=["open", "done"])
    overdue = boolean(required=True)
    due_at = moment(required=True)
    attempts = integer(required=True)
    last_error = text(required=True, nullable=True)
    created_at = moment(required=True)
    closed_at = moment(required=True, nullable=True)
    closed_by = text(required=True, nullable=True)
    note = text(required=True, nullable=True)


class TaskCounts(Shape):
    open = integer(required=True)
    overdue = integer(required=True)
    done = integer(required=True)


class RemovalTaskListSchema(Shape):
    tasks = array(nested(RemovalTaskSchema), required=True)
    counts = nested(TaskCounts, required=True)


class RemovalCloseRequestSchema(Closed):
    note = text(max_length=2000, nullable=True)


class TaskQuery(Shape):
    status = query_choice([*removals.STATUSES, "all"], default="open")
    person_id = query_integer(1, MAX_ID)
    limit = query_integer(1, MAX_LIMIT, default=100)


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
        "due_at": iso(task.due_at),
        "attempts": task.attempts,
        "last_error": task.last_error,
        "created_at": iso(task.created_at),
        "closed_at": iso(task.closed_at),
        "closed_by": task.closed_by_name,
        "note": task.note,
    }


@bp.endpoint(
    "GET", "/removal-tasks", tag="removals", query=TaskQuery, response=RemovalTaskListSchema
)
def list_removal_tasks(args: dict[str, Any]) -> Any:
    """List removal tasks, overdue first"""
    now, status = utcnow(), args["status"]
    rows = listings.removal_tasks(
        db(),
        None if status == "all" else status,
        person_id=args.get("person_id"),
        limit=args["limit"],
        now=now,
    )
    c = removals.counts(db(), now)
    return jsonify(
        {
            "tasks": [task_json(*row) for row in rows],
            "counts": {"open": c.open, "overdue": c.overdue, "done": c.done},
        }
    )


def _task_row(task_id: int) -> listings.TaskRow:
    return found(listings.removal_task(db(), task_id), f"no removal task {task_id}")


@bp.endpoint("GET", "/removal-tasks/<int:task_id>", tag="removals", response=RemovalTaskSchema)
def get_removal_task(task_id: int) -> Any:
    """One removal task"""
    return jsonify(task_json(*_task_row(task_id)))


@bp.endpoint(
    "POST",
    "/removal-tasks/<int:task_id>/close",
    tag="removals",
    body=RemovalCloseRequestSchema,
    response=RemovalTaskSchema,
)
def close_removal_task(body: dict[str, Any], task_id: int) -> Any:
    """Record that the post was taken down (closes the task; the post is no longer live)"""
    task, pub, name = _task_row(task_id)
    if task.status == "done":
        abort(409, description=f"removal task {task_id} was already closed")
    try:
        with transaction() as session:
            removals.close_task(session, task, api_user(), body.get("note"))
    except removals.RemovalError as exc:
        abort(422, description=str(exc))
    return jsonify(task_json(task, pub, name))
