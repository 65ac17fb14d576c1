"""Taking photos in: validate, store a clean re-encode once, and create the photo row."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from PIL import Image

from consentcam.faces import decode
from consentcam.faces.decode import ImageRejected, load_upright, probe
from consentcam.models import Photo, User
from consentcam.runtime import Runtime
from consentcam.services import events
from consentcam.storage import sha256_bytes
from consentcam.wording import N_

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "HEIF": "heic",
    "HEIC": "heic",
    "AVIF": "heic",
}
THUMB_SIDE = 480
#: Side of the small copy embedded in the audit's HTML report: big enough to recognise the post,
#: small enough that ten thousand of them stay a few tens of megabytes.
MINI_SIDE = 96
#: File names we take, by their final extension only (so `x.jpg.php` is refused).
ALLOWED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})


@dataclass(frozen=True)
class Clean:
    """A re-encoded image: its bytes and file extension."""

    data: bytes
    ext: str
    width: int
    height: int


#: Full decodes one process runs at once. A large image (MAX_PIXELS allows 100 MP) takes a few
#: hundred MB while it is decoded and encoded again; more uploads wait their turn rather than
#: add up (ten 9,990 x 9,990 PNGs at once would otherwise need several GB in the web process).
DECODE_SLOTS = 2
_decodes = threading.BoundedSemaphore(DECODE_SLOTS)


def _give_memory_back() -> None:
    """Hand the freed pixel memory back to the system (glibc keeps it per thread otherwise).

    Pillow allocates a large image in 16 MB blocks that glibc serves from the decoding thread's
    own arena and keeps after they are freed; with a pool of web threads each would hold on to
    the memory of the largest image it ever decoded.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _malloc_trim() -> Any:
    global _TRIM
    if _TRIM is False:
        import ctypes
        import ctypes.util
        import sys

        _TRIM = None
        if sys.platform.startswith("linux"):
            try:
                _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
            except (OSError, AttributeError):
                _TRIM = None
    return _TRIM


_TRIM: Any = False


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
    acceptable image. Runs in the caller's unit of work; the caller queues the new photo's scan
    (`later(session, "scan_photo", photo.id)`) to start once it commits.
    """
    check_extension(name)
    # Photo.sha256 is of the uploaded bytes, so the same upload twice is the same photo.
    digest = sha256_bytes(data)
    existing = session.scalar(sa.select(Photo).where(Photo.sha256 == digest))
    if existing is not None:
        return Ingested(existing, False)
    info = probe(data, max_pixels=rt.settings["MAX_PIXELS"], name=name)
    if EXTENSIONS.get(info.format.upper()) is None:
        raise ImageRejected(
            N_("%(name)s: %(format)s images are not accepted"), name=name, format=info.format
        )
    key, thumb_key = _store_files(rt, data, name, digest)
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
    return _add(session, photo, user)


def _store_files(rt: Runtime, data: bytes, name: str, digest: str) -> tuple[str, str]:
    """Store the clean re-encode, its thumbnail and its audit copy; the original's and the
    thumbnail's keys."""
    # Never keep the uploaded bytes: a clean re-encode drops metadata and anything smuggled in.
    with _decodes:
        try:
            clean = reencode(data, max_pixels=rt.settings["MAX_PIXELS"], name=name)
            thumb = make_thumbnail(clean.data, name, rt.settings["MAX_PIXELS"])
        finally:
            _give_memory_back()
    mini = make_mini(thumb)
    key, _ = rt.storage.put("originals", clean.data, clean.ext)
    thumb_key, _ = rt.storage.put("thumbs", thumb, "jpg")
    # Made now, from the thumbnail just encoded, so no audit has to make it (a file left by a
    # failed transaction is swept like the original and thumbnail: no photo has its SHA-256).
    if mini is not None:
        store_mini(rt, digest, mini)
    return key, thumb_key


def _add(session: so.Session, photo: Photo, user: User | None) -> Ingested:
    """Add the new photo's row, or find the same photo another request stored a moment ago."""
    try:
        with session.begin_nested():
            session.add(photo)
    except sa.exc.IntegrityError:
        existing = session.scalar(sa.select(Photo).where(Photo.sha256 == photo.sha256))
        if existing is None:
            raise
        return Ingested(existing, False)
    events.record(
        session,
        "photo.uploaded",
        f"photo:{photo.id}",
        {"sha256": photo.sha256, "name": photo.original_name, "source": photo.source},
        actor=user.email if user else photo.source,
    )
    return Ingested(photo, True)


def check_extension(name: str) -> None:
    """Refuse a file whose final extension is not one of the image types we take."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ext = ("." + base.rsplit(".", 1)[-1].lower()) if "." in base else ""
    if ext not in ALLOWED_EXTENSIONS:
        if not ext:
            raise ImageRejected(
                N_(
                    "%(name)s: files with no extension are not accepted "
                    "(allowed: .jpg, .jpeg, .png, .webp, .heic, .heif)"
                ),
                name=_clean_name(name),
            )
        raise ImageRejected(
            N_(
                "%(name)s: files ending in %(ext)s are not accepted "
                "(allowed: .jpg, .jpeg, .png, .webp, .heic, .heif)"
            ),
            name=_clean_name(name),
            ext=ext,
        )


def reencode(data: bytes, *, max_pixels: int, name: str) -> Clean:
    """Decode fully and encode again: upright, sRGB, no metadata; JPEG (q95) or PNG with alpha.

    Only pixels survive, so EXIF/GPS/XMP, ICC profiles, comments, text chunks and bytes after
    the image's end are all gone. Raises ImageRejected for anything that does not decode.
    """
    with decode._open(data, name, max_pixels) as im:
        decode._check_pixels(im, name, max_pixels)
        try:
            orientation = decode._header_orientation(im)
            im.load()
            if im.format == "PNG":
                orientation = decode._header_orientation(im)
            icc = im.info.get("icc_profile")
            alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
            if icc and im.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
                pixels = _to_srgb(im, icc, alpha)
            elif alpha:
                pixels = im.convert("RGBA")
            elif im.mode == "L":
                # Greyscale stays one byte a pixel (a JPEG of mode L), not three.
                pixels = im
            else:
                pixels = decode._to_rgb(im)
            if pixels.mode not in ("RGB", "RGBA", "L"):
                pixels = pixels.convert("RGBA" if alpha else "RGB")
            if orientation in decode._TRANSPOSE:
                pixels = pixels.transpose(decode._TRANSPOSE[orientation])
        except ImageRejected:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise decode._decode_error(name, exc) from None
    # A fresh image without info: nothing from the upload's metadata can be carried over.
    # (One copy of the pixels, not the two a tobytes/frombytes round trip would hold at once.)
    bare = Image.new(pixels.mode, pixels.size)
    bare.paste(pixels)
    del pixels
    out = io.BytesIO()
    if bare.mode == "RGBA":
        bare.save(out, "PNG", optimize=False, compress_level=6)
        ext = "png"
    else:
        bare.save(out, "JPEG", quality=95, subsampling=0)
        ext = "jpg"
    return Clean(out.getvalue(), ext, bare.size[0], bare.size[1])


def _to_srgb(im: Image.Image, icc: bytes, alpha: bool) -> Image.Image:
    """Convert from the embedded colour profile to sRGB, so colours survive dropping it."""
    from PIL import ImageCms

    mode = "RGBA" if alpha else "RGB"
    source = im
    if im.mode == "L":
        source = im.convert("RGB")
    elif im.mode == "LA":
        source = im.convert("RGBA")
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            source, profile, ImageCms.createProfile("sRGB"), outputMode=mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken profile must not make a good photo unreadable: keep the pixels as they are.
        converted = None
    if converted is None:
        return source.convert(mode)
    return converted


def make_thumbnail(data: bytes, name: str, max_pixels: int) -> bytes:
    """Return a small upright JPEG with no metadata, for lists and review pages."""
    decoded = load_upright(data, max_pixels=max_pixels, max_side=THUMB_SIDE * 2, name=name)
    img = Image.fromarray(decoded.rgb)
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def mini_key(sha256: str) -> str:
    """Where the small audit copy of the photo with this (upload) SHA-256 is kept.

    Named by the photo rather than by its content, so the audit finds it from the photo row
    alone and the sweeper can tell whose it is.
    """
    return f"thumbs/mini/{sha256}.jpg"


def make_mini(source: bytes | str) -> bytes | None:
    """Shrink a thumbnail (its bytes, or the path of a stored one) to MINI_SIDE as a JPEG.

    Returns None when it does not decode. The one function that makes the audit's small copies:
    at upload, in the background backfill and in the audit's fallback.
    """
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            w, h = im.size
            k = min(1.0, MINI_SIDE / max(w, h, 1))
            size = (max(1, round(w * k)), max(1, round(h * k)))
            # Ask the JPEG decoder for the smallest scale still at least the target size (1/2,
            # 1/4, 1/8): decoding then costs a fraction of a full decode.
            im.draft("RGB", size)
            small = im.convert("RGB")
            if small.size != size:
                small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=70)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return buf.getvalue()


def store_mini(rt: Runtime, sha256: str, data: bytes) -> str:
    """Keep a photo's small audit copy (atomically, like every stored file); return its key."""
    key = mini_key(sha256)
    rt.storage.put_named(key, data)
    return key


def _clean_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200] or "photo"


def photo_by_id(session: so.Session, photo_id: int) -> Photo | None:
    return session.get(Photo, photo_id)


def photos_by_ids(session: so.Session, ids: list[int]) -> list[Photo]:
    """The photos named that exist, with their faces (for the upload page's progress)."""
    if not ids:
        return []
    return list(
        session.scalars(
            sa.select(Photo).where(Photo.id.in_(ids)).options(so.selectinload(Photo.faces))
        )
    )
