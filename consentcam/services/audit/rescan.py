"""The audit's re-scan: every live post's published copy scanned again for faces nobody reviewed."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import Quarter
from consentcam.domain.boxes import centre_inside
from consentcam.models import Face, Photo, Publication, PublicationFace, QueueItem
from consentcam.runtime import Runtime
from consentcam.services.audit.stored import in_scope

log = logging.getLogger("consentcam.services.audit")

Progress = Callable[[int, int], None]
Box = tuple[int, int, int, int]
FloatBox = tuple[float, float, float, float]

RESCAN_METHOD = (
    "Each published copy was scanned again with the current face engine. The box of every face "
    "the publication accounts for (reviewed when it was published, or blurred) was carried over "
    "from the original photo to the published copy, repeating the same padding or cropping and "
    "scaling that made the copy. A face the new scan finds whose centre lies inside none of "
    "those boxes is counted as unaccounted for."
)


def cleared_box(
    box: Box, orig: tuple[int, int], fit: str, keep: Sequence[Box], cleared: tuple[int, int]
) -> FloatBox:
    """Carry a face box from the upright original to the published copy.

    Repeats what the cleared copy did: pad the photo to an allowed aspect (or crop a window that
    keeps the faces), then scale to the copy's width.
    """
    from consentcam.services.cleared import MAX_ASPECT, MIN_ASPECT, crop_window

    width, height = orig
    aspect = width / height
    target = min(max(aspect, MIN_ASPECT), MAX_ASPECT)
    left, top, right, bottom = (float(v) for v in box)
    frame_w, frame_h = float(width), float(height)
    if abs(target - aspect) > 1e-6:
        if fit == "crop":
            cl, ct, cr, cb = crop_window(width, height, target, keep)
            left, right, top, bottom = left - cl, right - cl, top - ct, bottom - ct
            frame_w, frame_h = float(cr - cl), float(cb - ct)
        else:
            if aspect < target:
                frame_w = float(int(-(-height * target // 1)))
                dx = (frame_w - width) / 2
                left, right = left + dx, right + dx
            else:
                frame_h = float(int(-(-width / target // 1)))
                dy = (frame_h - height) / 2
                top, bottom = top + dy, bottom + dy
    sx = cleared[0] / frame_w
    sy = cleared[1] / frame_h
    return (left * sx, top * sy, right * sx, bottom * sy)


def unaccounted_faces(detected: Sequence[Box], accounted: Sequence[FloatBox]) -> int:
    """Count detected faces whose centre lies inside no accounted-for box."""
    return sum(1 for box in detected if not centre_inside(box, accounted))


@dataclass(frozen=True)
class RescanTarget:
    """What re-scanning one live post needs, as plain data (no database session held)."""

    publication_id: int
    cleared_key: str
    original_size: tuple[int, int]
    fit: str
    keep: tuple[Box, ...]
    accounted: tuple[Box, ...]


def rescan_targets(session: so.Session, quarter: Quarter) -> list[RescanTarget]:
    """Load every live post of the quarter with its published copy, in three queries."""
    rows = session.execute(
        sa.select(
            Publication.id,
            Publication.cleared_copy_key,
            Photo.id,
            Photo.width,
            Photo.height,
            QueueItem.fit,
        )
        .join(Photo, Photo.id == Publication.photo_id)
        .outerjoin(QueueItem, QueueItem.id == Publication.queue_item_id)
        .where(
            in_scope(quarter),
            Publication.live.is_(True),
            Publication.cleared_copy_key.is_not(None),
        )
        .order_by(Publication.id)
    ).all()
    faces = _face_boxes(session, quarter)
    covered = {
        (r.publication_id, r.face_id)
        for r in session.execute(
            sa.select(PublicationFace.publication_id, PublicationFace.face_id)
            .join(Publication)
            .where(in_scope(quarter))
        )
    }
    out = []
    for r in rows:
        own = faces.get(r[2], [])
        assert r[1] is not None  # only posts with a cleared copy are asked for
        out.append(
            RescanTarget(
                publication_id=r[0],
                cleared_key=r[1],
                original_size=(r[3], r[4]),
                fit=r[5] or "pad",
                keep=tuple(box for _id, box, blur in own if not blur),
                accounted=tuple(box for fid, box, blur in own if blur or (r[0], fid) in covered),
            )
        )
    return out


def _face_boxes(session: so.Session, quarter: Quarter) -> dict[int, list[tuple[int, Box, bool]]]:
    """(face id, box, blurred) of every face on the quarter's published photos, by photo id."""
    faces: dict[int, list[tuple[int, Box, bool]]] = defaultdict(list)
    for f in session.execute(
        sa.select(
            Face.id, Face.photo_id, Face.left, Face.top, Face.right, Face.bottom, Face.blur
        ).where(
            Face.photo_id.in_(
                sa.select(Publication.photo_id).where(in_scope(quarter)).scalar_subquery()
            )
        )
    ):
        faces[f.photo_id].append((f.id, (f.left, f.top, f.right, f.bottom), f.blur))
    return faces


def rescan_counts(
    rt: Runtime, targets: Sequence[RescanTarget], progress: Progress | None = None
) -> dict[int, int]:
    """Scan each post's published copy again; count faces nobody accounts for.

    Holds no database transaction: on SQLite a long one would block every other writer.
    """
    from consentcam.services.scanning import scan_settings

    todo = [t for t in targets if rt.storage.exists(t.cleared_key)]
    settings = scan_settings(rt)
    out: dict[int, int] = {}
    total = len(todo)
    if progress:
        progress(0, total)
    for done, t in enumerate(todo, start=1):
        count = _rescan_one(rt, t, settings)
        if count is not None:
            out[t.publication_id] = count
        if progress:
            progress(done, total)
    return out


def _rescan_one(rt: Runtime, target: RescanTarget, settings: Any) -> int | None:
    """The faces nobody accounts for on one post's copy (None when the copy cannot be read)."""
    from PIL import Image

    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.pipeline import scan_image

    path = rt.storage.path(target.cleared_key)
    try:
        with Image.open(path) as im:
            size = im.size
        result = scan_image(path, settings, name=f"publication {target.publication_id}")
    except (ImageRejected, OSError) as exc:
        log.warning("audit rescan of publication %s failed: %s", target.publication_id, exc)
        return None
    t = target
    accounted = [cleared_box(b, t.original_size, t.fit, t.keep, size) for b in t.accounted]
    return unaccounted_faces([d.box for d in result.faces], accounted)


def rescan_quarter(
    session: so.Session, rt: Runtime, quarter: Quarter, progress: Progress | None = None
) -> dict[int, int]:
    """Re-scan the quarter's live posts: unaccounted faces by publication id.

    When the caller's transaction has not begun, what to scan is read in a short read-only
    session of its own, so no lock is held through the long scan (on SQLite a writing
    transaction would keep every other writer waiting).
    """
    if session.in_transaction():
        targets = rescan_targets(session, quarter)
    else:
        with rt.read_sessions() as reading:
            targets = rescan_targets(reading, quarter)
    return rescan_counts(rt, targets, progress)
