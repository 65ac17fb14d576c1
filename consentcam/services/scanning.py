"""Scanning a stored photo: detect and encode faces, suggest enrolled people, write Face rows.

A scan works in steps, each its own unit of work: claim the photo, scan it with no transaction
open, then write what was found (or that the photo could not be read).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.db import rowcount
from consentcam.domain.types import FaceState, ScanState
from consentcam.models import ConsentRecord, Face, Photo, ReferenceFace, utcnow
from consentcam.runtime import Runtime, TaskQueue
from consentcam.services import events
from consentcam.uow import unit_of_work

if TYPE_CHECKING:
    from consentcam.faces.match import Matcher

log = logging.getLogger(__name__)
_matcher_lock = threading.Lock()


def template_bytes(encoding: np.ndarray) -> bytes:
    return np.asarray(encoding, dtype=np.float64).tobytes()


def template_array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float64)


def biometric_person_ids(session: so.Session) -> sa.Select[int]:
    """People who hold an active biometric consent (the only ones whose templates may be kept)."""
    now = utcnow()
    return (
        sa.select(ConsentRecord.person_id)
        .where(
            ConsentRecord.biometric.is_(True),
            ConsentRecord.biometric_withdrawn_at.is_(None),
            sa.or_(ConsentRecord.expires_at.is_(None), ConsentRecord.expires_at > now),
        )
        .distinct()
    )


def enrolled_matcher(session: so.Session, rt: Runtime) -> Matcher:
    """Build (or reuse) the matcher over every enrolled reference face.

    The cache is keyed by the reference table's size and newest id, so an enrolment or a deletion
    anywhere (another process included) is seen on the next scan.
    """
    from consentcam.faces.match import Matcher

    stamp = session.execute(
        sa.select(
            sa.func.count(ReferenceFace.id),
            sa.func.max(ReferenceFace.id),
            sa.func.sum(ReferenceFace.person_id),
        )
    ).one()
    key = (tuple(stamp), rt.settings["MATCH_THRESHOLD"])
    with _matcher_lock:
        cached = rt.cache.get("matcher")
        if cached is not None and cached[0] == key:
            return cached[1]  # type: ignore[no-any-return]
    rows = session.execute(
        sa.select(ReferenceFace.person_id, ReferenceFace.template)
        .where(ReferenceFace.person_id.in_(biometric_person_ids(session)))
        .order_by(ReferenceFace.person_id)
    ).all()
    if rows:
        templates = np.stack([template_array(rt.vault.decrypt(r.template)) for r in rows])
    else:
        templates = np.zeros((0, 128))
    matcher = Matcher(
        templates, [r.person_id for r in rows], threshold=rt.settings["MATCH_THRESHOLD"]
    )
    with _matcher_lock:
        rt.cache["matcher"] = (key, matcher)
    return matcher


def scan_settings(rt: Runtime) -> Any:
    from consentcam.faces.pipeline import ScanSettings

    return ScanSettings(
        detect_side=rt.settings["DETECT_SIDE"], max_pixels=rt.settings["MAX_PIXELS"]
    )


# Longer than any one scan takes; a claim older than this belongs to a worker that died.
SCAN_LEASE = timedelta(minutes=15)


def claimant() -> str:
    """This process, as it signs its claims: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def claimable(now: datetime, me: str | None = None) -> sa.ColumnElement[bool]:
    """Photos a worker may start scanning: waiting, or claimed by a worker that is gone."""
    stale = sa.or_(
        Photo.scan_claimed_at.is_(None),
        Photo.scan_claimed_at < now - SCAN_LEASE,
        *([Photo.scan_claimed_by == me] if me else []),
    )
    return sa.or_(
        Photo.scan_state == ScanState.PENDING,
        sa.and_(Photo.scan_state == ScanState.SCANNING, stale),
    )


def release_dead_claims(session: so.Session) -> int:
    """Hand back the scans of this machine's workers that were killed mid-scan.

    Runs in the caller's unit of work. (Waiting and being scanned are one review state, so no
    photo's standing moves.)
    """
    host = socket.gethostname() + ":"
    rows = session.execute(
        sa.select(Photo.id, Photo.scan_claimed_by).where(
            Photo.scan_state == ScanState.SCANNING, Photo.scan_claimed_by.startswith(host)
        )
    ).all()
    dead = [pid for pid, by in rows if by is not None and not _alive(by[len(host) :])]
    if dead:
        session.execute(
            sa.update(Photo)
            .where(Photo.id.in_(dead), Photo.scan_state == ScanState.SCANNING)
            .values(scan_state=ScanState.PENDING, scan_claimed_at=None, scan_claimed_by=None)
            .execution_options(synchronize_session=False)
        )
    return len(dead)


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def scan_photo(session: so.Session, rt: Runtime, photo_id: int) -> Photo | None:
    """Scan one photo exactly once: a photo already scanned is left as it is.

    Three steps on ``session``, each committed on its own: the claim, the scan (no transaction
    open: on SQLite that would hold the write lock for seconds and make workers take turns),
    and the faces found (or the failure).
    """
    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.pipeline import scan_image

    with unit_of_work(rt, session):
        claim = _claim(session, rt, photo_id)
    if claim is None:
        return session.get(Photo, photo_id)
    source, name = claim
    try:
        result = scan_image(source, scan_settings(rt), name=name)
    except ImageRejected as exc:
        with unit_of_work(rt, session):
            return _record_failure(session, photo_id, exc)
    with unit_of_work(rt, session):
        photo = session.get(Photo, photo_id)
        if photo is None:
            return None
        session.refresh(photo)
        apply_scan(session, rt, photo, result)
    return photo


def _claim(session: so.Session, rt: Runtime, photo_id: int) -> tuple[Any, str] | None:
    """Claim the photo's scan for this worker; its file and name, or None when not to scan.

    Atomic: when two workers got the same job (a re-queue at start-up, a retried delivery),
    only the one whose update still sees the attempts it read goes on, and a photo another
    live worker is scanning stays theirs until their claim expires. (Waiting and being scanned
    are one review state, so the photo's standing does not move.)
    """
    photo = session.get(Photo, photo_id)
    if photo is None:
        log.warning("scan: photo %s no longer exists", photo_id)
        return None
    if photo.scan_state == ScanState.DONE:
        return None
    seen = photo.scan_attempts
    now = utcnow()
    me = claimant()
    claimed = session.execute(
        sa.update(Photo)
        .where(Photo.id == photo_id, Photo.scan_attempts == seen, claimable(now, me))
        .values(
            scan_state=ScanState.SCANNING,
            scan_attempts=seen + 1,
            scan_claimed_at=now,
            scan_claimed_by=me,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        log.info("scan: photo %s is being scanned by another worker", photo_id)
        return None
    return rt.storage.path(photo.original_key), photo.original_name


def _record_failure(session: so.Session, photo_id: int, exc: Exception) -> Photo | None:
    photo = session.get(Photo, photo_id)
    if photo is None:
        return None
    session.refresh(photo)
    photo.scan_state = ScanState.FAILED
    photo.scan_error = str(exc)
    events.record(
        session, "photo.scan_failed", f"photo:{photo.id}", {"error": str(exc)}, actor="scanner"
    )
    return photo


def apply_scan(session: so.Session, rt: Runtime, photo: Photo, result: Any) -> None:
    """Write the faces of a scan result, with a suggestion for each that matches someone enrolled."""
    matcher = enrolled_matcher(session, rt)
    encodings = [f.encoding for f in result.faces]
    matches = matcher.match_many(np.stack(encodings)) if encodings else []
    auto = float(rt.settings.get("AUTO_CONFIRM_DISTANCE") or 0.0)
    for face in list(photo.faces):
        session.delete(face)
    session.flush()
    for number, (found, match) in enumerate(zip(result.faces, matches, strict=True), start=1):
        left, top, right, bottom = found.box
        face = Face(
            photo=photo,
            number=number,
            left=left,
            top=top,
            right=right,
            bottom=bottom,
            sharpness=float(found.sharpness),
            blurry=bool(found.blurry),
            template=rt.vault.encrypt(template_bytes(found.encoding)),
        )
        if match.person_id is not None:
            assert match.distance is not None  # a match always has its distance
            face.suggested_person_id = int(match.person_id)
            face.distance = float(match.distance)
            face.gap = None if match.gap is None else float(match.gap)
            face.state = FaceState.SUGGESTED
            if auto > 0 and match.distance < auto:
                face.state = FaceState.CONFIRMED
                face.person_id = int(match.person_id)
                face.reviewed_at = utcnow()
        session.add(face)
    photo.scan_state = ScanState.DONE
    photo.scan_error = None
    photo.scanned_at = utcnow()
    photo.scan_seconds = float(result.seconds)
    session.flush()
    events.record(
        session,
        "photo.scanned",
        f"photo:{photo.id}",
        {"faces": len(result.faces), "suggested": sum(m.person_id is not None for m in matches)},
        actor="scanner",
    )


def forget_unmatched_templates(session: so.Session, photo: Photo) -> int:
    """Drop the templates of a reviewed photo's faces; only enrolled references keep templates."""
    count = 0
    for face in photo.faces:
        if face.template is not None:
            face.template = None
            count += 1
    return count


def register(jobs: TaskQueue) -> None:
    from huey import crontab

    @jobs.task("scan_photo", retries=2, retry_delay=10)
    def scan_photo_task(rt: Runtime, photo_id: int) -> None:
        with rt.sessions() as session:
            scan_photo(session, rt, photo_id)

    jobs.periodic("requeue_stale_scans", crontab(minute="*/10"), requeue_stale_scans)


def requeue_stale_scans(rt: Runtime) -> int:
    """Queue again the scans of a worker on another machine that died mid-scan (claim expired)."""
    with rt.sessions() as session:
        ids = session.scalars(
            sa.select(Photo.id).where(
                Photo.scan_state == ScanState.SCANNING,
                Photo.scan_claimed_at < utcnow() - SCAN_LEASE,
                Photo.scan_attempts < 5,
            )
        ).all()
    for photo_id in ids:
        rt.queue().enqueue("scan_photo", photo_id)
    return len(ids)


def requeue_unfinished(rt: Runtime) -> int:
    """Queue again every photo whose scan never finished (a worker killed mid-scan, a lost job).

    Photos a live worker is scanning are left to it; their claim expires if it dies elsewhere.
    """
    jobs = rt.queue()
    with unit_of_work(rt) as session:
        release_dead_claims(session)
        ids = session.scalars(
            sa.select(Photo.id).where(claimable(utcnow()), Photo.scan_attempts < 5)
        ).all()
    for photo_id in ids:
        jobs.enqueue("scan_photo", photo_id)
    return len(ids)
