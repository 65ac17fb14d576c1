"""Quarterly audit: build, store, sign off and look up audit runs."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam.domain.audit import (
    AuditFace,
    AuditPublication,
    ConsentStatus,
    Quarter,
    RemovalTaskView,
    audit_findings,
    consent_status_now,
)
from consentcam.domain.types import Channel, Consent, FaceState, Scope, SupplierPermission
from consentcam.domain.vocabulary import iso as _iso
from consentcam.models import (
    AuditRun,
    Event,
    Face,
    Person,
    Photo,
    Publication,
    PublicationFace,
    QueueItem,
    RemovalTask,
    Supplier,
    User,
    utcnow,
)
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.services.gate import consents_for, supplier_permissions_for
from consentcam.services.photos import MINI_SIDE, make_mini, mini_key, store_mini
from consentcam.storage import sha256_bytes
from consentcam.wording import N_, WordedError

if TYPE_CHECKING:
    from consentcam.jobs import Jobs

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Box = tuple[int, int, int, int]

SNAPSHOT_FORMAT = 1
# Side of the thumbnail embedded in the HTML report (made at upload, see photos.make_mini).
MINI_THUMB_SIDE = MINI_SIDE
#: Photos looked at per job of the background backfill of small copies.
BACKFILL_BATCH = 500
RESCAN_METHOD = (
    "Each published copy was scanned again with the current face engine. The box of every face "
    "the publication accounts for (reviewed when it was published, or blurred) was carried over "
    "from the original photo to the published copy, repeating the same padding or cropping and "
    "scaling that made the copy. A face the new scan finds whose centre lies inside none of "
    "those boxes is counted as unaccounted for."
)


class AuditError(WordedError, ValueError):
    """An audit cannot be run or signed as asked."""


class ReportTampered(RuntimeError):
    """A stored report no longer matches the SHA-256 kept when it was made."""


def quarter_signed(session: so.Session, quarter: Quarter | str) -> bool:
    """Tell whether the quarter has at least one signed-off audit run."""
    code = str(quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter))
    found = session.scalar(
        sa.select(AuditRun.id)
        .where(AuditRun.quarter == code, AuditRun.signed_at.is_not(None))
        .limit(1)
    )
    return found is not None


# --- Building the audit ----------------------------------------------------------------------


def _in_scope(quarter: Quarter) -> sa.ColumnElement[bool]:
    """Publications the quarter's audit covers: out by its end, and live or taken down within it."""
    return sa.and_(
        Publication.published_at < quarter.end,
        sa.or_(Publication.live.is_(True), Publication.removed_at >= quarter.start),
    )


def _consent_status(consent: Consent | None, channel: Channel, at: datetime, photo_id: int) -> str:
    if consent is None:
        return ConsentStatus.NO_CONSENT.value
    reason = consent.why_inactive(channel, at, photo_id)
    if reason is None:
        return ConsentStatus.ACTIVE.value
    from consentcam.domain.audit import _STATUS_BY_REASON

    return _STATUS_BY_REASON[reason].value


def _permission_state(perm: SupplierPermission | None, channel: Channel, at: datetime) -> str:
    if perm is None:
        return "missing"
    return "active" if perm.is_active(channel, at) else "lapsed"


def _safe_key(key: str | None) -> bool:
    """A storage key that stays inside the media folder, checked without touching the disk."""
    if not key or key.startswith(("/", "\\")) or "\x00" in key or "\\" in key:
        return False
    return ".." not in key.split("/")


class _Files:
    """Fast existence checks and reads of storage keys for the audit's thousands of lookups.

    ``Storage.path`` resolves every key (a realpath per call, one lstat per folder level), which
    is most of the audit's time over 10,000 posts; a key that passes ``_safe_key`` cannot leave
    the media folder, so a plain join is enough.
    """

    def __init__(self, rt: Runtime) -> None:
        self.root = str(rt.storage.root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, key)

    def exists(self, key: str | None) -> bool:
        return _safe_key(key) and os.path.isfile(self.path(key))  # type: ignore[arg-type]

    def read(self, key: str) -> bytes | None:
        if not _safe_key(key):
            return None
        try:
            with open(self.path(key), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def write_cache(self, key: str, data: bytes) -> None:
        """Write a cache file atomically but without fsync: losing it only costs a rebuild."""
        target = self.path(key)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        # ".tmp-" like Storage, so the sweeper cleans up after a process killed mid-write.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _mini_key(photo: Any) -> str:
    return mini_key(photo.sha256)


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def mini_thumbnail(rt: Runtime, photo: Any) -> str | None:
    """The photo's small JPEG (made at upload) as a data URI."""
    return mini_thumbnails(rt, [photo]).get(photo.id)


def mini_thumbnails(rt: Runtime, photos: Iterable[Any]) -> dict[int, str]:
    """Data URIs of the photos' small copies by photo id, read from storage.

    Upload makes them, and the worker's backfill makes those of photos stored before that. Any
    still missing (an upgraded instance whose backfill has not finished) are made here on a
    few threads (Pillow releases the GIL while it decodes and encodes) and written as a cache.
    """
    files = _Files(rt)
    out: dict[int, str] = {}
    todo: list[Any] = []
    for photo in photos:
        if not photo.thumbnail_key or photo.id in out:
            continue
        data = files.read(_mini_key(photo))
        if data:
            out[photo.id] = _data_uri(data)
        elif _safe_key(photo.thumbnail_key):
            todo.append(photo)
    if not todo:
        return out

    def make(photo: Any) -> tuple[int, bytes | None]:
        data = make_mini(files.path(photo.thumbnail_key))
        if data:
            try:
                files.write_cache(_mini_key(photo), data)
            except OSError as exc:  # a read-only media folder still gets a report
                log.warning("could not cache the audit thumbnail of photo %s: %s", photo.id, exc)
        return photo.id, data

    if len(todo) < 16:
        made = [make(photo) for photo in todo]
    else:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            made = list(pool.map(make, todo, chunksize=64))
    for photo_id, data in made:
        if data:
            out[photo_id] = _data_uri(data)
    return out


@dataclass(frozen=True)
class Backfill:
    """One batch of the backfill: photos looked at, copies made, thumbnails that did not decode."""

    looked_at: int
    made: int
    unreadable: int
    next_after: int | None  # the last photo id of a full batch; None when this was the last


def backfill_minis(rt: Runtime, *, after_id: int = 0, batch: int | None = None) -> Backfill:
    """Make the missing small copies of up to ``batch`` photos with an id above ``after_id``.

    For photos stored before upload made them. Idempotent: a photo that has its copy is
    skipped, so a batch run twice (a worker restarted mid-way) makes nothing new.
    """
    batch = batch or BACKFILL_BATCH
    files = _Files(rt)
    with rt.sessions() as session:
        rows = session.execute(
            sa.select(Photo.id, Photo.sha256, Photo.thumbnail_key)
            .where(Photo.id > after_id, Photo.thumbnail_key.is_not(None))
            .order_by(Photo.id)
            .limit(batch)
        ).all()
    made = unreadable = 0
    for row in rows:
        if files.exists(mini_key(row.sha256)) or not _safe_key(row.thumbnail_key):
            continue
        data = make_mini(files.path(row.thumbnail_key))
        if data is None:
            unreadable += 1
            continue
        store_mini(rt, row.sha256, data)
        made += 1
    next_after = rows[-1].id if len(rows) == batch else None
    return Backfill(len(rows), made, unreadable, next_after)


def backfill_done_marker(rt: Runtime) -> Path:
    """Exists once a full backfill pass has run on this instance (see backfill_minis)."""
    return Path(rt.instance_path) / "audit-minis-backfilled"


def cleared_box(
    box: Box, orig: tuple[int, int], fit: str, keep: Sequence[Box], cleared: tuple[int, int]
) -> tuple[float, float, float, float]:
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


def unaccounted_faces(
    detected: Sequence[Box], accounted: Sequence[tuple[float, float, float, float]]
) -> int:
    """Count detected faces whose centre lies inside no accounted-for box."""
    count = 0
    for left, top, right, bottom in detected:
        cx, cy = (left + right) / 2, (top + bottom) / 2
        if not any(a[0] <= cx <= a[2] and a[1] <= cy <= a[3] for a in accounted):
            count += 1
    return count


@dataclass
class _Pub:
    row: Any  # the publication's columns (a Row, not an ORM object: cheaper by far in bulk)
    photo: Any  # the photo's columns
    fit: str
    supplier_name: str | None


# Only the columns the report shows: loading whole ORM objects for 10,000 posts and their faces
# cost more than everything else the audit does.
_PUB_COLUMNS: so.Bundle[Any] = so.Bundle(
    "pub",
    Publication.id,
    Publication.channel,
    Publication.url,
    Publication.published_at,
    Publication.live,
    Publication.removed_at,
    Publication.cleared_copy_key,
    Publication.supplier_permission_id,
    Publication.faces_confirmed_at,
)
_PHOTO_COLUMNS: so.Bundle[Any] = so.Bundle(
    "photo",
    Photo.id,
    Photo.sha256,
    Photo.original_name,
    Photo.supplier_id,
    Photo.thumbnail_key,
    Photo.faces_confirmed_at,
)


def build_snapshot(
    session: so.Session,
    rt: Runtime,
    quarter: Quarter,
    *,
    rescan: bool = False,
    progress: Progress | None = None,
    at: datetime | None = None,
    thumbnails: bool = True,
    unaccounted: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Gather everything the quarter's report shows, as plain JSON-ready data.

    Loads in bulk (a fixed number of queries whatever the number of publications). ``at`` is
    the moment "now" in the report; the default is the present.
    """
    now = at or utcnow()
    rows = session.execute(
        sa.select(_PUB_COLUMNS, _PHOTO_COLUMNS, QueueItem.fit, Supplier.name)
        .select_from(Publication)
        .join(Photo, Photo.id == Publication.photo_id)
        .outerjoin(QueueItem, QueueItem.id == Publication.queue_item_id)
        .outerjoin(Supplier, Supplier.id == Photo.supplier_id)
        .where(_in_scope(quarter))
        .order_by(Publication.published_at, Publication.id)
    ).all()
    pubs = [_Pub(r[0], r[1], r[2] or "pad", r[3]) for r in rows]

    faces_by_photo: dict[int, list[Any]] = defaultdict(list)
    for face_row in session.execute(
        sa.select(
            Face.id,
            Face.photo_id,
            Face.number,
            Face.state,
            Face.person_id,
            Face.blur,
            Face.not_identifiable_reason,
        )
        .where(
            Face.photo_id.in_(
                sa.select(Publication.photo_id).where(_in_scope(quarter)).scalar_subquery()
            )
        )
        .order_by(Face.photo_id, Face.number)
    ):
        faces_by_photo[face_row.photo_id].append(face_row)
    covered: dict[tuple[int, int], Any] = {}
    for covered_row in session.execute(
        sa.select(
            PublicationFace.publication_id,
            PublicationFace.face_id,
            PublicationFace.person_id,
            PublicationFace.how,
            PublicationFace.consent_id,
        )
        .join(Publication)
        .where(_in_scope(quarter))
    ):
        covered[(covered_row.publication_id, covered_row.face_id)] = covered_row
    tasks = session.execute(
        sa.select(
            RemovalTask.id, RemovalTask.publication_id, RemovalTask.due_at, RemovalTask.closed_at
        )
        .join(Publication)
        .where(_in_scope(quarter))
    ).all()

    person_ids: set[int] = set()
    for faces in faces_by_photo.values():
        person_ids.update(f.person_id for f in faces if f.person_id is not None)
    person_ids.update(pf.person_id for pf in covered.values() if pf.person_id is not None)
    consents = consents_for(session, person_ids)
    consent_by_id = {c.id: c for items in consents.values() for c in items}
    names: dict[int, str] = {}
    if person_ids:
        names = dict(
            session.execute(
                sa.select(Person.id, Person.name).where(Person.id.in_(sorted(person_ids)))
            ).all()
        )
    permissions = supplier_permissions_for(session, (p.photo.supplier_id for p in pubs))
    perm_by_id = {p.id: p for p in permissions}

    if rescan and unaccounted is None:
        unaccounted = rescan_counts(rt, rescan_targets(session, quarter), progress)
    unaccounted = unaccounted or {}

    files = _Files(rt)
    audit_pubs: list[AuditPublication] = []
    present: dict[int, bool] = {}
    for p in pubs:
        row, pub_id = p.row, p.row.id
        present[pub_id] = files.exists(row.cleared_copy_key)
        faces = []
        for f in faces_by_photo.get(p.photo.id, ()):
            pf = covered.get((pub_id, f.id))
            faces.append(
                AuditFace(
                    face_id=f.id,
                    number=f.number,
                    state=FaceState(f.state),
                    person_id=f.person_id,
                    blur=f.blur,
                    not_identifiable_reason=f.not_identifiable_reason,
                    consent_id_at_publish=pf.consent_id if pf is not None else None,
                )
            )
        audit_pubs.append(
            AuditPublication(
                id=pub_id,
                photo_id=p.photo.id,
                channel=Channel(row.channel),
                published_at=row.published_at,
                live=row.live,
                cleared_copy_present=present[pub_id],
                supplier_id=p.photo.supplier_id,
                faces=tuple(faces),
                supplier_permission_id_at_publish=row.supplier_permission_id,
                unaccounted_faces_on_rescan=unaccounted.get(pub_id) if rescan else None,
                faces_confirmed_at_publish=row.faces_confirmed_at is not None,
                faces_confirmed_now=p.photo.faces_confirmed_at is not None,
            )
        )
    task_views = [RemovalTaskView(t.id, t.publication_id, t.due_at, t.closed_at) for t in tasks]
    findings = audit_findings(audit_pubs, consents, permissions, task_views, now, names=names)
    findings_by_pub: dict[int, int] = defaultdict(int)
    for f in findings:
        findings_by_pub[f.publication_id] += 1

    listing = {
        pid for pid, items in consents.items() if any(c.scope is Scope.LISTED for c in items)
    }
    status_now: dict[tuple[int | None, Channel, int], str] = {}
    chart: dict[str, dict[str, int]] = {}
    out_pubs: list[dict[str, Any]] = []
    thumbs: dict[str, str] = {}
    if thumbnails:
        thumbs = {str(k): v for k, v in mini_thumbnails(rt, (p.photo for p in pubs)).items()}
    for p, view in zip(pubs, audit_pubs, strict=True):
        channel = view.channel
        row, pub_id, photo_id = p.row, view.id, view.photo_id
        if not row.live:
            status = "taken_down"
        elif findings_by_pub.get(pub_id):
            status = "findings"
        else:
            status = "ok"
        chart.setdefault(channel.value, {"ok": 0, "findings": 0, "taken_down": 0})[status] += 1
        face_lines = []
        for face in view.faces:
            pf = covered.get((pub_id, face.face_id))
            how = pf.how if pf is not None else None
            pid = face.person_id if face.person_id is not None else (pf.person_id if pf else None)
            then = "not reviewed"
            if how == "consent":
                then = _consent_status(
                    consent_by_id.get(pf.consent_id) if pf and pf.consent_id else None,
                    channel,
                    row.published_at,
                    photo_id,
                )
            elif how in ("blur", "not_identifiable", "supplier"):
                then = how
            if face.blur:
                current = "blur"
            elif face.state is FaceState.NOT_IDENTIFIABLE:
                current = "not_identifiable"
            elif face.state is not FaceState.CONFIRMED:
                current = "not_confirmed"
            else:
                # Where a person stands now depends on the photo only through consents that
                # list photos; without those one answer per person and channel serves every post.
                key = (face.person_id, channel, photo_id if face.person_id in listing else 0)
                known = status_now.get(key)
                if known is None:
                    known = consent_status_now(face, consents, channel, now, photo_id).value
                    status_now[key] = known
                current = known
            face_lines.append(
                {
                    "face_id": face.face_id,
                    "number": face.number,
                    "person_id": pid,
                    "person": names.get(pid, f"Person #{pid}") if pid is not None else None,
                    "how": how,
                    "consent_id": pf.consent_id if pf else None,
                    "then": then,
                    "now": current,
                    "reason": face.not_identifiable_reason,
                }
            )
        perm = None
        if p.row.supplier_permission_id is not None:
            sp = perm_by_id.get(p.row.supplier_permission_id)
            perm = {
                "id": p.row.supplier_permission_id,
                "supplier": p.supplier_name,
                "then": _permission_state(sp, channel, row.published_at),
                "now": _permission_state(sp, channel, now),
            }
        out_pubs.append(
            {
                "id": pub_id,
                "photo_id": photo_id,
                "photo_name": p.photo.original_name,
                "channel": channel.value,
                "url": row.url,
                "published_at": _iso(row.published_at),
                "live": row.live,
                "removed_at": _iso(row.removed_at),
                "cleared_copy_present": present[pub_id],
                "supplier_permission": perm,
                "unaccounted": unaccounted.get(pub_id) if rescan else None,
                "faces_confirmed_at": _iso(row.faces_confirmed_at),
                "status": status,
                "finding_count": findings_by_pub.get(pub_id, 0),
                "faces": face_lines,
            }
        )
    head = session.execute(
        sa.select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)
    ).first()
    return {
        "format": SNAPSHOT_FORMAT,
        "quarter": str(quarter),
        "period": {"start": _iso(quarter.start), "end": _iso(quarter.end)},
        "generated_at": _iso(now),
        "business": rt.settings.get("BUSINESS_NAME") or "",
        "responsible": rt.settings.get("RESPONSIBLE_PERSON") or "",
        # The report is written in the business's language, with times in its time zone.
        "language": str(rt.settings.get("LANGUAGE") or "en"),
        "time_zone": str(rt.settings.get("TIME_ZONE") or "Europe/Stockholm"),
        "rescan": rescan,
        "rescan_method": RESCAN_METHOD if rescan else None,
        "event_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "findings": [
            {
                "kind": f.kind.value,
                "severity": f.severity,
                "publication_id": f.publication_id,
                "face_id": f.face_id,
                "task_id": f.task_id,
                "message": f.message,
                "params": dict(f.params),
            }
            for f in findings
        ],
        "chart": dict(sorted(chart.items())),
        "publications": out_pubs,
        "thumbs": thumbs,
    }


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
            _in_scope(quarter),
            Publication.live.is_(True),
            Publication.cleared_copy_key.is_not(None),
        )
        .order_by(Publication.id)
    ).all()
    faces: dict[int, list[tuple[int, Box, bool]]] = defaultdict(list)
    for f in session.execute(
        sa.select(
            Face.id, Face.photo_id, Face.left, Face.top, Face.right, Face.bottom, Face.blur
        ).where(
            Face.photo_id.in_(
                sa.select(Publication.photo_id).where(_in_scope(quarter)).scalar_subquery()
            )
        )
    ):
        faces[f.photo_id].append((f.id, (f.left, f.top, f.right, f.bottom), f.blur))
    covered = {
        (r.publication_id, r.face_id)
        for r in session.execute(
            sa.select(PublicationFace.publication_id, PublicationFace.face_id)
            .join(Publication)
            .where(_in_scope(quarter))
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


def rescan_counts(
    rt: Runtime, targets: Sequence[RescanTarget], progress: Progress | None = None
) -> dict[int, int]:
    """Scan each post's published copy again; count faces nobody accounts for.

    Holds no database transaction: on SQLite a long one would block every other writer.
    """
    from PIL import Image

    from consentcam.faces.decode import ImageRejected
    from consentcam.faces.pipeline import scan_image
    from consentcam.services.scanning import scan_settings

    todo = [t for t in targets if rt.storage.exists(t.cleared_key)]
    settings = scan_settings(rt)
    out: dict[int, int] = {}
    total = len(todo)
    if progress:
        progress(0, total)
    for done, t in enumerate(todo, start=1):
        path = rt.storage.path(t.cleared_key)
        try:
            with Image.open(path) as im:
                size = im.size
            result = scan_image(path, settings, name=f"publication {t.publication_id}")
        except (ImageRejected, OSError) as exc:
            log.warning("audit rescan of publication %s failed: %s", t.publication_id, exc)
        else:
            accounted = [cleared_box(b, t.original_size, t.fit, t.keep, size) for b in t.accounted]
            out[t.publication_id] = unaccounted_faces([d.box for d in result.faces], accounted)
        if progress:
            progress(done, total)
    return out


# --- Storing, signing, verifying --------------------------------------------------------------


def report_key(run: AuditRun) -> str:
    return f"reports/audit-{run.id}-{run.quarter}.html"


def snapshot_key(run: AuditRun) -> str:
    return f"reports/audit-{run.id}-{run.quarter}.json"


def summary_of(run: AuditRun) -> dict[str, Any]:
    return json.loads(run.summary) if run.summary else {}


def start_run(
    session: so.Session, quarter: Quarter | str, *, rescan: bool, user: User | None
) -> AuditRun:
    """Create the run row (state "running") so progress can be shown before the work starts."""
    q = quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter)
    run = AuditRun(
        quarter=str(q),
        rescan=rescan,
        created_by_id=user.id if user else None,
        summary=json.dumps({"state": "running", "done": 0, "total": 0}),
    )
    session.add(run)
    session.flush()
    return run


def complete_run(
    session: so.Session,
    rt: Runtime,
    run: AuditRun,
    *,
    progress: Progress | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> AuditRun:
    """Build the snapshot and the HTML report, store both, and record the hashes."""
    from consentcam.reports.html import render_html

    if run.signed_at is not None or run.report_key:
        raise AuditError(N_("this audit run is finished; run a new audit instead"))
    quarter = Quarter.parse(run.quarter)
    unaccounted = None
    if run.rescan:
        targets = rescan_targets(session, quarter)
        # End the read transaction before the long scan (SQLite writers would wait on it).
        session.commit()
        unaccounted = rescan_counts(rt, targets, progress)
    snapshot = build_snapshot(
        session, rt, quarter, rescan=run.rescan, at=at, unaccounted=unaccounted
    )
    snapshot["run_id"] = run.id
    # The thumbnails live in the HTML only: CSV, PDF and the audit page never show them, and
    # leaving them out makes the stored data a few MB instead of tens to write, hash and read.
    stored = {k: v for k, v in snapshot.items() if k != "thumbs"}
    data = json.dumps(stored, ensure_ascii=False, sort_keys=True).encode("utf-8")
    data_sha = rt.storage.put_named(snapshot_key(run), data)
    html = render_html(snapshot, data_sha256=data_sha).encode("utf-8")
    run.report_sha256 = rt.storage.put_named(report_key(run), html)
    run.report_key = report_key(run)
    run.publication_count = len(snapshot["publications"])
    run.finding_count = len(snapshot["findings"])
    by_kind: dict[str, int] = defaultdict(int)
    for f in snapshot["findings"]:
        by_kind[f["kind"]] += 1
    run.summary = json.dumps(
        {
            "state": "done",
            "snapshot_sha256": data_sha,
            "findings_by_kind": dict(sorted(by_kind.items())),
            "chart": snapshot["chart"],
            "event_head_at_run": snapshot["event_head"],
        },
        sort_keys=True,
    )
    events.record(
        session,
        "audit.run",
        f"audit:{run.id}",
        {
            "quarter": run.quarter,
            "rescan": run.rescan,
            "publications": run.publication_count,
            "findings": run.finding_count,
            "report_sha256": run.report_sha256,
        },
        actor=actor,
    )
    return run


def run_audit(
    session: so.Session,
    rt: Runtime,
    quarter: Quarter | str,
    *,
    rescan: bool = False,
    user: User | None = None,
    progress: Progress | None = None,
    at: datetime | None = None,
) -> AuditRun:
    """Run a quarter's audit start to finish in the caller's transaction."""
    run = start_run(session, quarter, rescan=rescan, user=user)
    return complete_run(
        session, rt, run, progress=progress, actor=user.email if user else "cli", at=at
    )


def set_progress(rt: Runtime, run_id: int, done: int, total: int) -> None:
    """Write a running audit's progress in its own short transaction, so pages can poll it."""
    with rt.sessions() as s:
        s.execute(
            sa.update(AuditRun)
            .where(AuditRun.id == run_id, AuditRun.report_key.is_(None))
            .values(summary=json.dumps({"state": "running", "done": done, "total": total}))
        )
        s.commit()


def progress_of(run: AuditRun) -> dict[str, Any]:
    """State of a run for the progress bar: running (done/total), done or failed."""
    summary = summary_of(run)
    state = summary.get("state", "done" if run.report_key else "running")
    return {
        "id": run.id,
        "state": state,
        "done": int(summary.get("done", 0)),
        "total": int(summary.get("total", 0)),
        "error": summary.get("error"),
    }


def register(jobs: Jobs) -> None:
    @jobs.task("backfill_audit_minis")
    def backfill_minis_task(
        rt: Runtime, after_id: int = 0, made: int = 0, unreadable: int = 0
    ) -> None:
        """One batch of the backfill; queues the next behind whatever else is waiting."""
        done = backfill_minis(rt, after_id=after_id)
        made += done.made
        unreadable += done.unreadable
        if done.next_after is not None:
            if done.made:
                log.info(
                    "audit thumbnails: %d small copies made so far, continuing after photo %d",
                    made,
                    done.next_after,
                )
            jobs.enqueue("backfill_audit_minis", done.next_after, made, unreadable)
            return
        log.info(
            "audit thumbnails: backfill finished, %d small copies made, %d unreadable thumbnails",
            made,
            unreadable,
        )
        # Upload makes every later copy, so no worker start needs to walk the photos again.
        backfill_done_marker(rt).touch()

    @jobs.task("run_audit")
    def run_audit_task(rt: Runtime, run_id: int) -> None:
        with rt.sessions() as session:
            run = session.get(AuditRun, run_id)
            if run is None or run.report_key:
                return
            try:
                complete_run(
                    session,
                    rt,
                    run,
                    progress=lambda d, t: set_progress(rt, run_id, d, t),
                    actor="worker",
                )
                session.commit()
            except Exception as exc:
                session.rollback()
                log.exception("audit run %s failed", run_id)
                failed = session.get(AuditRun, run_id)
                if failed is not None and not failed.report_key:
                    failed.summary = json.dumps({"state": "failed", "error": str(exc)[:500]})
                    session.commit()
                raise


def read_report(rt: Runtime, run: AuditRun) -> bytes:
    """The stored HTML report, checked against the SHA-256 kept when it was made."""
    if not run.report_key or not run.report_sha256:
        raise AuditError(N_("this audit has no report yet"))
    try:
        data = rt.storage.read(run.report_key)
    except FileNotFoundError as exc:
        raise ReportTampered(f"the report file of audit {run.id} is missing") from exc
    if sha256_bytes(data) != run.report_sha256:
        raise ReportTampered(
            f"the report of audit {run.id} was changed after it was made: its SHA-256 no "
            "longer matches"
        )
    return data


def read_snapshot(rt: Runtime, run: AuditRun) -> dict[str, Any]:
    """The data behind the report (for CSV and PDF), checked against its SHA-256."""
    expected = summary_of(run).get("snapshot_sha256")
    if not run.report_key or not expected:
        raise AuditError(N_("this audit has no report yet"))
    try:
        data = rt.storage.read(snapshot_key(run))
    except FileNotFoundError as exc:
        raise ReportTampered(f"the data of audit {run.id} is missing") from exc
    if sha256_bytes(data) != expected:
        raise ReportTampered(f"the data of audit {run.id} was changed after it was made")
    return json.loads(data)  # type: ignore[no-any-return]


def sign(
    session: so.Session,
    rt: Runtime,
    run: AuditRun,
    user: User,
    signer_name: str,
    *,
    reviewed: bool = True,
) -> AuditRun:
    """Sign off a finished audit. A signed run is never changed again.

    The event log's head at this moment is kept with the run (call ``checkpoint_signed`` after
    the commit to write it to the event-head file too), so `consentcam log verify` can tell if
    events up to it were later removed.
    """
    name = (signer_name or "").strip()
    if run.signed_at is not None:
        raise AuditError(N_("this audit is signed already; a signed audit cannot be changed"))
    if not run.report_key:
        raise AuditError(N_("this audit is still running; sign it when the report is ready"))
    if not reviewed:
        raise AuditError(N_("confirm that you have reviewed the report before signing"))
    if not name or len(name) > 200:
        raise AuditError(N_("type your full name (at most 200 characters) to sign"))
    if not user.is_owner:
        raise AuditError(N_("only the owner may sign an audit off"))
    read_report(rt, run)  # refuse to sign a report that no longer matches its hash
    now = utcnow()
    event = events.record(
        session,
        "audit.signed",
        f"audit:{run.id}",
        {"quarter": run.quarter, "report_sha256": run.report_sha256, "signer_name": name},
        actor=user.email,
        at=now,
    )
    run.signed_at = now
    run.signed_by_id = user.id
    run.signer_name = name
    summary = summary_of(run)
    summary["event_head_at_signing"] = {"seq": event.seq, "hash": event.hash}
    run.summary = json.dumps(summary, sort_keys=True)
    session.flush()
    return run


def checkpoint_signed(rt: Runtime, run: AuditRun) -> None:
    """After the signing is committed, keep its head in the event-head file too."""
    kept = summary_of(run).get("event_head_at_signing")
    current = read_event_head(rt)
    if kept and (current is None or current[0] <= int(kept["seq"])):
        write_event_head(rt, int(kept["seq"]), str(kept["hash"]))


# --- The event log's head, kept apart from the database -----------------------------------------


def event_head_path(rt: Runtime) -> Path:
    return Path(rt.instance_path) / "event-head"


def write_event_head(rt: Runtime, seq: int, digest: str) -> None:
    """Keep the newest known head of the log in a file beside the database."""
    from consentcam.storage import Storage

    Storage.write_atomic(event_head_path(rt), f"{seq} {digest}\n".encode("ascii"))


def read_event_head(rt: Runtime) -> tuple[int, str] | None:
    path = event_head_path(rt)
    if not path.is_file():
        return None
    try:
        seq, digest = path.read_text("ascii").split()
        return int(seq), digest
    except ValueError:
        return None


def known_heads(session: so.Session, rt: Runtime) -> list[tuple[str, int, str]]:
    """Heads kept outside the log: (where, seq, hash), newest first."""
    out: list[tuple[str, int, str]] = []
    head = read_event_head(rt)
    if head is not None:
        out.append(("instance event-head file", head[0], head[1]))
    runs = session.scalars(
        sa.select(AuditRun).where(AuditRun.signed_at.is_not(None)).order_by(AuditRun.id.desc())
    )
    for run in runs:
        kept = summary_of(run).get("event_head_at_signing")
        if kept:
            out.append((f"signed audit {run.id}", int(kept["seq"]), str(kept["hash"])))
            break
    return sorted(out, key=lambda h: -h[1])


@dataclass(frozen=True)
class LogCheck:
    count: int
    problem: Any  # ChainProblem | None
    head_source: str | None


def verify_log(session: so.Session, rt: Runtime, *, checkpoint: bool = True) -> LogCheck:
    """Verify the whole chain, including that it still holds the newest head kept outside it.

    When the chain is intact and ``checkpoint`` is set, its present head is written to the
    event-head file, so later removals at the end are caught too.
    """
    heads = known_heads(session, rt)
    count, problem = events.verify(session)
    source = None
    if problem is None:
        for where, _seq, digest in heads:
            count, problem = events.verify(session, expected_head=digest)
            if problem is not None:
                source = where
                break
    if problem is None and checkpoint and count:
        head = session.execute(
            sa.select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)
        ).one()
        write_event_head(rt, head.seq, head.hash)
    return LogCheck(count, problem, source)


def runs(session: so.Session, limit: int = 200) -> list[AuditRun]:
    return list(session.scalars(sa.select(AuditRun).order_by(AuditRun.id.desc()).limit(limit)))


@dataclass(frozen=True)
class QuarterState:
    """How far a quarter's audit is signed: ``state`` is "signed" (a signed run made after the
    quarter ended covers all of it), "partly" (signed, but run before the quarter's end, so the
    rest is not covered yet), "open" (nothing signed) or "before" (the quarter ended before this
    instance was set up: nothing to audit)."""

    quarter: Quarter
    state: str
    run: AuditRun | None = None


def quarter_states(session: so.Session, quarters: Iterable[Quarter]) -> list[QuarterState]:
    """The audit state of each quarter, in the order given."""
    wanted = list(quarters)
    from consentcam.models import Event

    started = session.scalar(sa.select(sa.func.min(Event.at)))
    runs: dict[str, list[AuditRun]] = {}
    for run in session.scalars(
        sa.select(AuditRun)
        .where(AuditRun.quarter.in_([str(q) for q in wanted]), AuditRun.signed_at.is_not(None))
        .order_by(AuditRun.signed_at)
    ):
        runs.setdefault(run.quarter, []).append(run)
    out: list[QuarterState] = []
    for q in wanted:
        signed = runs.get(str(q), [])
        whole = [r for r in signed if _aware(r.created_at) >= q.end]
        if whole:
            out.append(QuarterState(q, "signed", whole[-1]))
        elif signed:
            out.append(QuarterState(q, "partly", signed[-1]))
        elif started is not None and _aware(started) >= q.end:
            out.append(QuarterState(q, "before"))
        else:
            out.append(QuarterState(q, "open"))
    return out


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def latest_signed(session: so.Session, quarters: Iterable[str]) -> dict[str, AuditRun]:
    out: dict[str, AuditRun] = {}
    for run in session.scalars(
        sa.select(AuditRun)
        .where(AuditRun.quarter.in_(list(quarters)), AuditRun.signed_at.is_not(None))
        .order_by(AuditRun.signed_at)
    ):
        out[run.quarter] = run
    return out
