"""JSON API for the publish queue and publications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Response, abort, current_app, jsonify, request

from consentcam.domain.types import Channel
from consentcam.domain.vocabulary import iso as _iso
from consentcam.models import Publication, QueueItem
from consentcam.security import MAX_ID, parse_id, parse_int
from consentcam.services import publishing
from consentcam.web import db, runtime
from consentcam.web.api import api_user, bp, documented, json_body, schema

CHANNELS = [c.value for c in Channel]

BLOCKER = schema(
    "QueueBlocker",
    {
        "type": "object",
        "required": ["code", "message", "params", "face", "channel"],
        "properties": {
            "code": {
                "type": "string",
                "description": "A gate reason (e.g. no_consent) or publish_failed.",
            },
            "message": {"type": "string"},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
            "face": {
                "type": "integer",
                "nullable": True,
                "description": "The face's number in the photo.",
            },
            "face_id": {"type": "integer", "nullable": True},
            "person_id": {"type": "integer", "nullable": True},
            "channel": {"type": "string"},
            "retryable": {"type": "boolean"},
        },
    },
)

QUEUE_ITEM = schema(
    "QueueItem",
    {
        "type": "object",
        "required": [
            "id",
            "photo_id",
            "channels",
            "caption",
            "scheduled_for",
            "fit",
            "status",
            "blockers",
            "publication_ids",
            "manual_channels",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "photo_id": {"type": "integer"},
            "channels": {"type": "array", "items": {"type": "string", "enum": CHANNELS}},
            "caption": {"type": "string"},
            "scheduled_for": {"type": "string", "format": "date-time", "nullable": True},
            "fit": {"type": "string", "enum": list(publishing.FITS)},
            "status": {"type": "string", "enum": list(publishing.STATUSES)},
            "blockers": {"type": "array", "items": BLOCKER},
            "publication_ids": {"type": "array", "items": {"type": "integer"}},
            "manual_channels": {
                "type": "array",
                "items": {"type": "string", "enum": CHANNELS},
                "description": "Channels still to be posted by hand and recorded with manual-publication.",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
)

QUEUE_LIST = schema(
    "QueueItemList",
    {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": QUEUE_ITEM}},
    },
)

QUEUE_REQUEST = schema(
    "QueueRequest",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["photo_id", "channels"],
        "properties": {
            "photo_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "channels": {
                "type": "array",
                "items": {"type": "string", "enum": CHANNELS},
                "minItems": 1,
                "maxItems": len(CHANNELS),
                "uniqueItems": True,
            },
            "caption": {"type": "string", "maxLength": publishing.CAPTION_MAX, "default": ""},
            "scheduled_for": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "When to publish automatically, with a time zone (RFC 3339).",
            },
            "fit": {"type": "string", "enum": list(publishing.FITS), "default": "pad"},
        },
    },
)

MANUAL_REQUEST = schema(
    "ManualPublicationRequest",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["channel", "url"],
        "properties": {
            "channel": {"type": "string", "enum": CHANNELS},
            "url": {
                "type": "string",
                "format": "uri",
                "maxLength": 500,
                "pattern": "^https?://\\S+$",
            },
        },
    },
)

PUBLICATION = schema(
    "Publication",
    {
        "type": "object",
        "required": [
            "id",
            "queue_item_id",
            "photo_id",
            "channel",
            "publisher",
            "external_id",
            "url",
            "caption",
            "published_at",
            "cleared_copy_sha256",
            "supplier_permission_id",
            "live",
            "removed_at",
            "faces",
        ],
        "properties": {
            "id": {"type": "integer"},
            "queue_item_id": {"type": "integer", "nullable": True},
            "photo_id": {"type": "integer"},
            "channel": {"type": "string"},
            "publisher": {"type": "string", "enum": ["manual", "meta"]},
            "external_id": {"type": "string", "nullable": True},
            "url": {"type": "string", "nullable": True},
            "caption": {"type": "string"},
            "published_at": {"type": "string", "format": "date-time"},
            "cleared_copy_sha256": {"type": "string", "nullable": True},
            "supplier_permission_id": {"type": "integer", "nullable": True},
            "live": {"type": "boolean"},
            "removed_at": {"type": "string", "format": "date-time", "nullable": True},
            "faces": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["face_id", "person_id", "how", "consent_id"],
                    "properties": {
                        "face_id": {"type": "integer"},
                        "person_id": {"type": "integer", "nullable": True},
                        "how": {
                            "type": "string",
                            "enum": ["consent", "not_identifiable", "blur", "supplier"],
                        },
                        "consent_id": {"type": "integer", "nullable": True},
                    },
                },
            },
        },
    },
)

PUBLICATION_LIST = schema(
    "PublicationList",
    {
        "type": "object",
        "required": ["publications"],
        "properties": {"publications": {"type": "array", "items": PUBLICATION}},
    },
)

LIMIT_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
    },
]


def _paging() -> tuple[int, int]:
    limit_value = parse_int(request.args.get("limit", "100"), -(2**40), 2**40)
    offset_value = parse_int(request.args.get("offset", "0"), -(2**40), 2**40)
    if limit_value is None or offset_value is None:
        abort(400, description="limit and offset must be whole numbers")
    limit, offset = limit_value, offset_value
    # OFFSET is bound as a 32-bit integer on PostgreSQL.
    if not 1 <= limit <= 500 or not 0 <= offset <= MAX_ID:
        abort(400, description=f"limit must be 1..500 and offset 0..{MAX_ID}")
    return limit, offset


def item_json(item: QueueItem) -> dict[str, Any]:
    session = db()
    pub_ids = session.scalars(
        sa.select(Publication.id)
        .where(Publication.queue_item_id == item.id)
        .order_by(Publication.id)
    ).all()
    manual = (
        publishing.pending_manual_channels(session, item) if item.status == "publishing" else []
    )
    blockers = []
    for b in publishing.blockers_of(item):
        entry = {
            "code": str(b.get("code", "")),
            "message": str(b.get("message", "")),
            "params": {str(k): str(v) for k, v in (b.get("params") or {}).items()},
            "face": b.get("face"),
            "face_id": b.get("face_id"),
            "person_id": b.get("person_id"),
            "channel": str(b.get("channel") or ""),
        }
        if "retryable" in b:
            entry["retryable"] = bool(b["retryable"])
        blockers.append(entry)
    return {
        "id": item.id,
        "photo_id": item.photo_id,
        "channels": item.channel_list,
        "caption": item.caption or "",
        "scheduled_for": _iso(item.scheduled_for),
        "fit": item.fit,
        "status": item.status,
        "blockers": blockers,
        "publication_ids": list(pub_ids),
        "manual_channels": manual,
        "created_at": _iso(item.created_at),
        "updated_at": _iso(item.updated_at),
    }


def publication_json(pub: Publication) -> dict[str, Any]:
    return {
        "id": pub.id,
        "queue_item_id": pub.queue_item_id,
        "photo_id": pub.photo_id,
        "channel": pub.channel,
        "publisher": pub.publisher,
        "external_id": pub.external_id,
        "url": pub.url,
        "caption": pub.caption or "",
        "published_at": _iso(pub.published_at),
        "cleared_copy_sha256": pub.cleared_copy_sha256,
        "supplier_permission_id": pub.supplier_permission_id,
        "live": pub.live,
        "removed_at": _iso(pub.removed_at),
        "faces": [
            {
                "face_id": f.face_id,
                "person_id": f.person_id,
                "how": f.how,
                "consent_id": f.consent_id,
            }
            for f in pub.faces
        ],
    }


def _get_item(item_id: int) -> QueueItem:
    # Ids beyond 64 bits cannot exist (and SQLite cannot even compare them).
    item = db().get(QueueItem, item_id) if 0 < item_id <= 2**62 else None
    if item is None:
        abort(404, description=f"no queue item {item_id}")
    return item


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        abort(
            422,
            description="scheduled_for must be a date-time string such as 2025-05-01T09:00:00+02:00",
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        abort(
            422, description="scheduled_for must be a date-time such as 2025-05-01T09:00:00+02:00"
        )
    if parsed.tzinfo is None:
        abort(422, description="scheduled_for needs a time zone, e.g. +02:00 or Z")
    return parsed


@bp.get("/queue")
@documented(
    "/queue",
    "get",
    "List queue items, newest first",
    tag="queue",
    response=QUEUE_LIST,
    parameters=[
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(publishing.STATUSES)},
        },
        *LIMIT_PARAMS,
    ],
)
def list_queue() -> Response:
    limit, offset = _paging()
    query = sa.select(QueueItem)
    status = request.args.get("status")
    if status is not None:
        if status not in publishing.STATUSES:
            abort(400, description="status must be one of " + ", ".join(publishing.STATUSES))
        query = query.where(QueueItem.status == status)
    items = db().scalars(query.order_by(QueueItem.id.desc()).limit(limit).offset(offset)).all()
    return jsonify({"items": [item_json(i) for i in items]})


@bp.post("/queue")
@documented(
    "/queue",
    "post",
    "Queue a photo for channels; the gate decides ready, scheduled or blocked (with blockers)",
    tag="queue",
    response=QUEUE_ITEM,
    status=201,
    body=QUEUE_REQUEST,
)
def create_queue_item() -> tuple[Response, int]:
    data = json_body()
    unknown = set(data) - {"photo_id", "channels", "caption", "scheduled_for", "fit"}
    if unknown:
        abort(422, description="unknown fields: " + ", ".join(sorted(unknown)))
    photo_id = data.get("photo_id")
    if not isinstance(photo_id, int) or isinstance(photo_id, bool) or not 0 < photo_id <= MAX_ID:
        abort(422, description="photo_id must be a positive integer")
    channels = data.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or not all(isinstance(c, str) and c in CHANNELS for c in channels)
        or len(set(channels)) != len(channels)
    ):
        abort(
            422,
            description="channels must be a non-empty list of distinct names from "
            + ", ".join(CHANNELS),
        )
    caption = data.get("caption", "")
    if not isinstance(caption, str) or len(caption) > publishing.CAPTION_MAX:
        abort(
            422, description=f"caption must be text of at most {publishing.CAPTION_MAX} characters"
        )
    fit = data.get("fit", "pad")
    if fit not in publishing.FITS:
        abort(422, description="fit must be pad or crop")
    scheduled = _parse_time(data.get("scheduled_for"))
    session = db()
    try:
        item = publishing.queue_photo(
            session,
            runtime(),
            photo_id,
            channels,
            caption=caption,
            scheduled_for=scheduled,
            fit=fit,
            actor=api_user(),
        )
    except publishing.QueueError as exc:
        session.rollback()
        code = 404 if "there is no photo" in str(exc) else 422
        abort(code, description=str(exc))
    session.commit()
    return jsonify(item_json(item)), 201


@bp.get("/queue/<int:item_id>")
@documented(
    "/queue/{item_id}", "get", "One queue item with its blockers", tag="queue", response=QUEUE_ITEM
)
def get_queue_item(item_id: int) -> Response:
    return jsonify(item_json(_get_item(item_id)))


@bp.post("/queue/<int:item_id>/publish")
@documented(
    "/queue/{item_id}/publish",
    "post",
    "Publish now: the gate runs again, then the publish job starts (409 when blocked or not publishable)",
    tag="queue",
    response=QUEUE_ITEM,
    status=202,
)
def publish_queue_item(item_id: int) -> tuple[Response, int]:
    session = db()
    item = _get_item(item_id)
    try:
        ok = publishing.request_publish(session, runtime(), item, actor=api_user())
    except publishing.QueueError as exc:
        abort(409, description=str(exc))
    session.commit()
    if not ok:
        return jsonify({"error": "the photo is blocked", "details": item_json(item)}), 409
    current_app.extensions["jobs"].enqueue("publish_queue_item", item.id)
    session.expire_all()
    return jsonify(item_json(_get_item(item_id))), 202


@bp.post("/queue/<int:item_id>/cancel")
@documented(
    "/queue/{item_id}/cancel",
    "post",
    "Take an item off the queue",
    tag="queue",
    response=QUEUE_ITEM,
)
def cancel_queue_item(item_id: int) -> Response:
    session = db()
    item = _get_item(item_id)
    try:
        publishing.cancel(session, item, actor=api_user())
    except publishing.QueueError as exc:
        abort(409, description=str(exc))
    session.commit()
    return jsonify(item_json(item))


@bp.post("/queue/<int:item_id>/manual-publication")
@documented(
    "/queue/{item_id}/manual-publication",
    "post",
    "Record a post made by hand (its link); the Publication is created only now",
    tag="queue",
    response=PUBLICATION,
    status=201,
    body=MANUAL_REQUEST,
)
def manual_publication(item_id: int) -> tuple[Response, int]:
    data = json_body()
    unknown = set(data) - {"channel", "url"}
    if unknown:
        abort(422, description="unknown fields: " + ", ".join(sorted(unknown)))
    channel, url = data.get("channel"), data.get("url")
    if channel not in CHANNELS:
        abort(422, description="channel must be one of " + ", ".join(CHANNELS))
    if not isinstance(url, str):
        abort(422, description="url must be the post's link")
    session = db()
    item = _get_item(item_id)
    try:
        pub = publishing.record_manual_publication(
            session, runtime(), item, channel, url, actor=api_user()
        )
    except publishing.QueueError as exc:
        session.rollback()
        text = str(exc)
        abort(422 if "link" in text else 409, description=text)
    session.commit()
    return jsonify(publication_json(pub)), 201


@bp.get("/publications")
@documented(
    "/publications",
    "get",
    "List publications, newest first",
    tag="publications",
    response=PUBLICATION_LIST,
    parameters=[
        {"name": "live", "in": "query", "required": False, "schema": {"type": "boolean"}},
        {
            "name": "photo_id",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        },
        *LIMIT_PARAMS,
    ],
)
def list_publications() -> Response:
    limit, offset = _paging()
    query = sa.select(Publication).options(so.selectinload(Publication.faces))
    live = request.args.get("live")
    if live is not None:
        if live not in ("true", "false"):
            abort(400, description="live must be true or false")
        query = query.where(Publication.live.is_(live == "true"))
    photo_id = request.args.get("photo_id")
    if photo_id is not None:
        number = parse_id(photo_id)
        if number is None:
            abort(400, description="photo_id must be a positive integer")
        query = query.where(Publication.photo_id == number)
    rows = db().scalars(query.order_by(Publication.id.desc()).limit(limit).offset(offset)).all()
    return jsonify({"publications": [publication_json(p) for p in rows]})


@bp.get("/publications/<int:publication_id>")
@documented(
    "/publications/{publication_id}",
    "get",
    "One publication with its faces as published",
    tag="publications",
    response=PUBLICATION,
)
def get_publication(publication_id: int) -> Response:
    pub = db().get(Publication, publication_id)
    if pub is None:
        abort(404, description=f"no publication {publication_id}")
    return jsonify(publication_json(pub))
