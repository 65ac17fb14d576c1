"""Taking photos in: validate, store the original once, and create the photo row."""

from __future__ import annotations

import io
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.faces.decode import ImageRejected, load_upright, probe
from consentcam.models import Photo, User
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.storage import sha256_bytes

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "HEIF": "heic",
    "HEIC": "heic",
    "AVIF": "heic",
}
THUMB_SIDE = 480


@dataclass(frozen=True)
class Ingested:
    photo: Photo
    created: bool


def ingest(
    session: so.Session,
    rt: Runtime,
    data: bytes,
    name: str,
    *,
    source: str = "upload",
    user: User | None = None,
    supplier_id: int | None = None,
) -> Ingested:
    """Store an uploaded photo and create its row; the same bytes twice give the same photo.

    Raises ImageRejected (naming the file) before anything is written when the bytes are not an
    acceptable image.
    """
    digest = sha256_bytes(data)
    existing = session.scalar(sa.select(Photo).where(Photo.sha256 == digest))
    if existing is not None:
        return Ingested(existing, False)
    info = probe(data, max_pixels=rt.settings["MAX_PIXELS"], name=name)
    thumb = make_thumbnail(data, name, rt.settings["MAX_PIXELS"])
    ext = EXTENSIONS.get(info.format.upper())
    if ext is None:
        raise ImageRejected(f"{name}: {info.format} images are not accepted")
    key, _ = rt.storage.put("originals", data, ext)
    thumb_key, _ = rt.storage.put("thumbs", thumb, "jpg")
    photo = Photo(
        sha256=digest,
        original_key=key,
        original_name=_clean_name(name),
        format=info.format.upper(),
        size_bytes=len(data),
        width=info.width,
        height=info.height,
        source=source,
        supplier_id=supplier_id,
        uploaded_by_id=user.id if user else None,
        thumbnail_key=thumb_key,
    )
    try:
        with session.begin_nested():
            session.add(photo)
    except sa.exc.IntegrityError:
        # Another request stored the same bytes a moment ago: that photo is this photo.
        existing = session.scalar(sa.select(Photo).where(Photo.sha256 == digest))
        if existing is None:
            raise
        return Ingested(existing, False)
    events.record(
        session,
        "photo.uploaded",
        f"photo:{photo.id}",
        {"sha256": digest, "name": photo.original_name, "source": source},
        actor=user.email if user else source,
    )
    return Ingested(photo, True)


def make_thumbnail(data: bytes, name: str, max_pixels: int) -> bytes:
    """Return a small upright JPEG with no metadata, for lists and review pages."""
    decoded = load_upright(data, max_pixels=max_pixels, max_side=THUMB_SIDE * 2, name=name)
    img = Image.fromarray(decoded.rgb)
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def _clean_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200] or "photo"
