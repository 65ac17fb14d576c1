"""Bulk seeding for the benchmark cases: row dicts for scanned photos and their faces, and the
page case's whole instance (people, photos, faces, consents, a publish queue)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import inputs


def photo_row(template: Any, n: int, sha256: str, when: datetime, **extra: Any) -> dict[str, Any]:
    """A scanned upload ``IMG_<n>.jpg`` sharing ``template``'s stored original and thumbnail.

    A person has confirmed that everyone in it is marked (as the gate requires to clear it).
    """
    return {
        "sha256": sha256,
        "original_key": template.original_key,
        "original_name": f"IMG_{n:05d}.jpg",
        "format": "JPEG",
        "size_bytes": template.size_bytes,
        "width": template.width,
        "height": template.height,
        "source": "upload",
        "uploaded_at": when,
        "scan_state": "done",
        "scan_attempts": 1,
        "scanned_at": when,
        "scan_seconds": 0.5,
        "thumbnail_key": template.thumbnail_key,
        "faces_confirmed_at": when,
        "faces_confirmed_by": "owner@example.com",
        **extra,
    }


def face_row(photo_id: int, number: int, state: str, **extra: Any) -> dict[str, Any]:
    """Face ``number`` of a photo, side by side with the others, in ``state``."""
    return {
        "photo_id": photo_id,
        "number": number,
        "left": 100 * number,
        "top": 100,
        "right": 100 * number + 80,
        "bottom": 180,
        "sharpness": 120.0,
        "state": state,
        **extra,
    }


def seed(instance: Path, photos: int, faces_per_photo: int, people: int) -> dict[str, int]:
    """Fill the database with bulk inserts: people, scanned photos and their faces (mixed states)."""
    import sqlalchemy as sa

    from consentcam.models import Face, Person, Photo
    from consentcam.runtime import Runtime
    from consentcam.services import photos as photo_service

    rt = Runtime.build(instance)
    rng = random.Random(6)
    now = datetime.now(UTC)
    try:
        with rt.sessions() as session:
            # One real photo (and its thumbnail) so every thumbnail key points at a real file.
            real = inputs.modest_photos(1)[0]
            template = photo_service.ingest(session, rt, real.read_bytes(), real.name).photo
            session.flush()
            session.execute(
                sa.insert(Person),
                [{"name": f"Person {i:05d}", "email": f"p{i}@example.com"} for i in range(people)],
            )
            person_ids = session.scalars(sa.select(Person.id)).all()
            photo_rows = []
            for i in range(photos):
                when = now - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
                photo_rows.append(photo_row(template, i, f"{i:064x}", when))
            session.execute(sa.insert(Photo), photo_rows)
            photo_ids = session.scalars(sa.select(Photo.id).where(Photo.id != template.id)).all()
            face_rows = []
            for photo_id in photo_ids:
                for number in range(1, faces_per_photo + 1):
                    kind = rng.random()
                    row = face_row(photo_id, number, "pending")
                    who = rng.choice(person_ids)
                    if kind < 0.6:
                        row.update(state="confirmed", person_id=who, reviewed_at=now)
                    elif kind < 0.8:
                        row.update(
                            state="suggested", suggested_person_id=who, distance=0.4, gap=0.1
                        )
                    face_rows.append(row)
            session.execute(sa.insert(Face), face_rows)
            _seed_consents_and_publishing(session, rng, now, list(person_ids), list(photo_ids))
            session.commit()
        work_out_standing(rt)
        with rt.sessions() as session:
            counts = {
                "photos": session.scalar(sa.select(sa.func.count(Photo.id))) or 0,
                "faces": session.scalar(sa.select(sa.func.count(Face.id))) or 0,
                "people": session.scalar(sa.select(sa.func.count(Person.id))) or 0,
            }
            counts["person_ids"] = list(person_ids)  # type: ignore[assignment]
            return counts
    finally:
        rt.close()


def work_out_standing(rt: Any, batch: int = 2000) -> None:
    """Work out where every photo stands, and count the photos, as the app's own writes do
    (bulk inserts skip both)."""
    import sqlalchemy as sa

    from consentcam.models import Photo
    from consentcam.services import photo_state, photo_tally
    from consentcam.uow import unit_of_work

    with rt.sessions() as session:
        ids = list(session.scalars(sa.select(Photo.id).order_by(Photo.id)))
    for start in range(0, len(ids), batch):
        with unit_of_work(rt) as session:
            photo_state.refresh(session, ids[start : start + batch])
    # The counters moved from states the bulk-inserted photos were never counted in.
    with unit_of_work(rt) as session:
        photo_tally.recount(session)


def _seed_consents_and_publishing(
    session: Any, rng: random.Random, now: datetime, person_ids: list[int], photo_ids: list[int]
) -> None:
    """Consents for most people (some withdrawn or expired), a publish queue, publications and
    removal tasks, so every page's gate rules and joins run against realistic rows."""
    _seed_consents(session, rng, now, person_ids)
    _seed_publishing(session, rng, now, person_ids, photo_ids)


def _seed_consents(session: Any, rng: random.Random, now: datetime, person_ids: list[int]) -> None:
    import sqlalchemy as sa

    from consentcam.models import ConsentChannel, ConsentRecord

    consent_rows = []
    for pid in person_ids:
        if rng.random() < 0.85:
            given = now - timedelta(days=rng.randrange(1, 700))
            expires = given + timedelta(days=365 * 2) if rng.random() < 0.3 else None
            consent_rows.append(
                {
                    "person_id": pid,
                    "scope": "all",
                    "given_at": given,
                    "expires_at": expires,
                    "signer_name": f"Signer {pid}",
                    "biometric": rng.random() < 0.5,
                    "created_at": given,
                }
            )
    session.execute(sa.insert(ConsentRecord), consent_rows)
    channel_rows = []
    for cid in session.scalars(sa.select(ConsentRecord.id)).all():
        for channel in ("instagram", "facebook", "website", "print"):
            if rng.random() < 0.7:
                withdrawn = now - timedelta(days=3) if rng.random() < 0.05 else None
                channel_rows.append(
                    {"consent_id": cid, "channel": channel, "withdrawn_at": withdrawn}
                )
    session.execute(sa.insert(ConsentChannel), channel_rows)


def _seed_publishing(
    session: Any, rng: random.Random, now: datetime, person_ids: list[int], photo_ids: list[int]
) -> None:
    import sqlalchemy as sa

    from consentcam.models import Publication, QueueItem, QueueItemChannel, RemovalTask

    queued = rng.sample(photo_ids, min(300, len(photo_ids)))
    session.execute(
        sa.insert(QueueItem),
        [
            {
                "photo_id": pid,
                "caption": "Summer class",
                "status": rng.choice(("blocked", "ready", "published")),
                "scheduled_for": now + timedelta(days=rng.randrange(-30, 30)),
                "created_at": now - timedelta(days=rng.randrange(0, 60)),
                "updated_at": now,
            }
            for pid in queued
        ],
    )
    item_ids = session.scalars(sa.select(QueueItem.id)).all()
    session.execute(
        sa.insert(QueueItemChannel),
        [{"queue_item_id": i, "channel": c} for i in item_ids for c in ("instagram", "facebook")],
    )
    session.execute(
        sa.insert(Publication),
        [
            {
                "queue_item_id": item_id,
                "photo_id": photo_id,
                "channel": "instagram",
                "publisher": "manual",
                "caption": "Summer class",
                "published_at": now - timedelta(days=rng.randrange(1, 300)),
                "live": rng.random() < 0.8,
            }
            for item_id, photo_id in zip(item_ids, queued, strict=False)
        ],
    )
    publication_ids = session.scalars(sa.select(Publication.id)).all()
    session.execute(
        sa.insert(RemovalTask),
        [
            {
                "publication_id": pub_id,
                "person_id": rng.choice(person_ids),
                "method": "manual",
                "status": "open" if rng.random() < 0.6 else "done",
                "due_at": now + timedelta(hours=rng.randrange(-48, 72)),
                "created_at": now - timedelta(days=2),
            }
            for pub_id in rng.sample(list(publication_ids), min(60, len(publication_ids)))
        ],
    )
