"""What went out: a Publication with its snapshot of how every face was covered, and the item's
status once a channel is out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy.orm as so

from consentcam.domain.gate import GateDecision
from consentcam.models import Photo, Publication, PublicationFace, QueueItem, User
from consentcam.services import events
from consentcam.services.events import actor_of as _actor
from consentcam.services.publishing.verdicts import (
    PUBLISH_FAILED,
    blocked_channels,
    blockers_of,
    encode_blockers,
    published_channels,
    record_blocked,
)


def record_publication(
    session: so.Session,
    item: QueueItem,
    photo: Photo,
    decision: GateDecision,
    *,
    publisher: str,
    external_id: str | None,
    url: str | None,
    cleared_key: str,
    cleared_sha256: str,
    actor: User | None,
    at: datetime,
) -> Publication:
    """Store a post that went out on the decision's channel, and its `publication.created`."""
    supplier_ids = [
        c.supplier_permission_id for c in decision.clearances if c.supplier_permission_id
    ]
    publication = Publication(
        queue_item_id=item.id,
        photo_id=photo.id,
        channel=str(decision.channel),
        publisher=publisher,
        external_id=external_id,
        url=url,
        caption=item.caption,
        published_at=at,
        published_by_id=actor.id if actor else item.created_by_id,
        cleared_copy_key=cleared_key,
        cleared_copy_sha256=cleared_sha256,
        supplier_permission_id=supplier_ids[0] if supplier_ids else None,
        live=True,
        faces_confirmed_at=photo.faces_confirmed_at,
    )
    publication.faces = _face_snapshot(photo, decision)
    session.add(publication)
    session.flush()
    _record_created(session, item, photo, publication, actor)
    return publication


def _face_snapshot(photo: Photo, decision: GateDecision) -> list[PublicationFace]:
    """How each face was covered when the post went out (person, consent or other reason)."""
    faces = {f.id: f for f in photo.faces}
    return [
        PublicationFace(
            face_id=c.face_id,
            person_id=faces[c.face_id].person_id if c.face_id in faces else None,
            how=str(c.how),
            consent_id=c.consent_id,
        )
        for c in decision.clearances
    ]


def _record_created(
    session: so.Session,
    item: QueueItem,
    photo: Photo,
    publication: Publication,
    actor: User | None,
) -> None:
    events.record(
        session,
        "publication.created",
        f"publication:{publication.id}",
        {
            "queue_item": item.id,
            "photo": photo.id,
            "channel": publication.channel,
            "publisher": publication.publisher,
            "external_id": publication.external_id,
            "url": publication.url,
            "cleared_copy_sha256": publication.cleared_copy_sha256,
            "faces": [
                {"face": f.face_id, "person": f.person_id, "how": f.how, "consent": f.consent_id}
                for f in publication.faces
            ],
            "supplier_permission": publication.supplier_permission_id,
            "faces_confirmed_at": photo.faces_confirmed_at,
        },
        actor=_actor(actor) or "publisher",
    )


def finish_status(
    session: so.Session, item: QueueItem, entries: list[dict[str, Any]] | None = None
) -> None:
    """After a channel went out: published, waiting for a hand-made post, or blocked for the
    channels the gate still refuses (``entries``: their reasons; default: the stored ones)."""
    done = published_channels(session, item)
    pending = [c for c in item.channel_list if c not in done]
    if not pending:
        item.status = "published"
        item.blockers = None
        return
    if entries is None:
        entries = [b for b in blockers_of(item) if b.get("code") != PUBLISH_FAILED]
    entries = [e for e in entries if e.get("channel") in pending]
    refused = blocked_channels(entries)
    item.blockers = encode_blockers(entries)
    if any(c not in refused for c in pending):
        item.status = "publishing"  # waiting for a hand-made post on the remaining channels
    else:
        before = item.status
        item.status = "blocked"  # the rest goes out when the gate clears it
        record_blocked(session, item, before, entries, "gate")
