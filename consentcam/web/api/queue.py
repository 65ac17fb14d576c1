"""API: the publish queue: queue a photo, read items with their blockers, publish, cancel, and
record a post made by hand."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify

from consentcam.domain.vocabulary import iso
from consentcam.models import QueueItem
from consentcam.services import listings, publishing
from consentcam.web import db, runtime, transaction
from consentcam.web.api import api_user, bp, found
from consentcam.web.api.fields import (
    CHANNELS,
    MAX_ID,
    Closed,
    Shape,
    array,
    boolean,
    channel_choice,
    channels,
    integer,
    mapping,
    moment,
    nested,
    query_choice,
    query_integer,
    text,
    when,
)
from consentcam.web.api.publications import PublicationSchema, publication_json


class QueueBlockerSchema(Shape):
    code = text(required=True, description="A gate reason (e.g. no_consent) or publish_failed.")
    message = text(required=True)
    params = mapping(text(), required=True)
    face = integer(required=True, nullable=True, description="The face's number in the photo.")
    face_id = integer(nullable=True)
    person_id = integer(nullable=True)
    channel = text(required=True)
    retryable = boolean()


class QueueItemSchema(Shape):
    id = integer(required=True)
    photo_id = integer(required=True)
    channels = array(channel_choice(), required=True)
    caption = text(required=True)
    scheduled_for = moment(required=True, nullable=True)
    fit = text(required=True, choices=publishing.FITS)
    status = text(required=True, choices=publishing.STATUSES)
    blockers = array(nested(QueueBlockerSchema), required=True)
    publication_ids = array(integer(), required=True)
    manual_channels = array(
        channel_choice(),
        required=True,
        description="Channels still to be posted by hand and recorded with manual-publication.",
    )
    created_at = moment(required=True)
    updated_at = moment(required=True)


class QueueItemListSchema(Shape):
    items = array(nested(QueueItemSchema), required=True)


class QueueRequestSchema(Closed):
    photo_id = integer(required=True, minimum=1, maximum=MAX_ID)
    channels = channels(
        required=True, min_items=1, max_items=len(CHANNELS), unique=True, distinct=True
    )
    caption = text(max_length=publishing.CAPTION_MAX, default="")
    scheduled_for = when(
        nullable=True, description="When to publish automatically, with a time zone (RFC 3339)."
    )
    fit = text(choices=publishing.FITS, default="pad")


class ManualPublicationRequestSchema(Closed):
    channel = channel_choice(required=True)
    url = text(
        required=True,
        max_length=500,
        fmt="uri",
        pattern="^https?://\\S+$",
        pattern_error="{{field}} must be the post's link (https://...)",
    )


class QueueQuery(Shape):
    status = query_choice(publishing.STATUSES)
    limit = query_integer(1, 500, default=100)
    offset = query_integer(0, MAX_ID, default=0)


def item_json(item: QueueItem) -> dict[str, Any]:
    session = db()
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
        "scheduled_for": iso(item.scheduled_for),
        "fit": item.fit,
        "status": item.status,
        "blockers": blockers,
        "publication_ids": listings.publication_ids(session, item),
        "manual_channels": manual,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


def _get_item(item_id: int) -> QueueItem:
    return found(listings.queue_item(db(), item_id), f"no queue item {item_id}")


@bp.endpoint("GET", "/queue", tag="queue", query=QueueQuery, response=QueueItemListSchema)
def list_queue(args: dict[str, Any]) -> Response:
    """List queue items, newest first"""
    items = listings.queue_items(
        db(), args.get("status"), limit=args["limit"], offset=args["offset"]
    )
    return jsonify({"items": [item_json(i) for i in items]})


@bp.endpoint(
    "POST", "/queue", tag="queue", body=QueueRequestSchema, response=QueueItemSchema, status=201
)
def create_queue_item(body: dict[str, Any]) -> tuple[Response, int]:
    """Queue a photo for channels; the gate decides ready, scheduled or blocked (with blockers)"""
    try:
        with transaction() as session:
            item = publishing.queue_photo(
                session,
                runtime(),
                body["photo_id"],
                body["channels"],
                caption=body["caption"],
                scheduled_for=body.get("scheduled_for"),
                fit=body["fit"],
                actor=api_user(),
            )
    except publishing.QueueError as exc:
        abort(404 if "there is no photo" in str(exc) else 422, description=str(exc))
    return jsonify(item_json(item)), 201


@bp.endpoint("GET", "/queue/<int:item_id>", tag="queue", response=QueueItemSchema)
def get_queue_item(item_id: int) -> Response:
    """One queue item with its blockers"""
    return jsonify(item_json(_get_item(item_id)))


@bp.endpoint(
    "POST", "/queue/<int:item_id>/publish", tag="queue", response=QueueItemSchema, status=202
)
def publish_queue_item(item_id: int) -> tuple[Response, int]:
    """Publish now: the gate runs again, then the publish job starts (409 when blocked or not publishable)"""
    item = _get_item(item_id)
    try:
        with transaction() as session:
            ok = publishing.publish_now(session, runtime(), item, actor=api_user())
    except publishing.QueueError as exc:
        abort(409, description=str(exc))
    if not ok:
        return jsonify({"error": "the photo is blocked", "details": item_json(item)}), 409
    db().expire_all()  # the worker may have taken the item on already
    return jsonify(item_json(_get_item(item_id))), 202


@bp.endpoint("POST", "/queue/<int:item_id>/cancel", tag="queue", response=QueueItemSchema)
def cancel_queue_item(item_id: int) -> Response:
    """Take an item off the queue"""
    item = _get_item(item_id)
    try:
        with transaction() as session:
            publishing.cancel(session, item, actor=api_user())
    except publishing.QueueError as exc:
        abort(409, description=str(exc))
    return jsonify(item_json(item))


@bp.endpoint(
    "POST",
    "/queue/<int:item_id>/manual-publication",
    tag="queue",
    body=ManualPublicationRequestSchema,
    response=PublicationSchema,
    status=201,
)
def manual_publication(body: dict[str, Any], item_id: int) -> tuple[Response, int]:
    """Record a post made by hand (its link); the Publication is created only now"""
    item = _get_item(item_id)
    try:
        with transaction() as session:
            pub = publishing.record_manual_publication(
                session, runtime(), item, body["channel"], body["url"], actor=api_user()
            )
    except publishing.QueueError as exc:
        text_ = str(exc)
        abort(422 if "link" in text_ else 409, description=text_)
    return jsonify(publication_json(pub)), 201
