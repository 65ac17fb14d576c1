"""Safe decoding of uploaded photos into upright 8-bit RGB pixels for face detection."""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, UnidentifiedImageError

from consentcam.wording import N_, WordedError

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DecodedImage",
    "ImageInfo",
    "ImageRejected",
    "ImageSource",
    "load_upright",
    "probe",
]

#: Pillow format names we are willing to parse; everything else is refused before decoding.
ALLOWED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "WEBP", "HEIF")
_ALLOWED_HUMAN: Final = "JPEG, PNG, WebP, HEIC"

#: Default limit on width x height, checked before any pixel is decoded.
DEFAULT_MAX_PIXELS: Final = 100_000_000

#: EXIF orientations that swap width and height (90/270 degree rotations).
_SWAPPING_ORIENTATIONS: Final = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG: Final = 0x0112
#: How to turn stored pixels upright per EXIF orientation (as ImageOps.exif_transpose does).
_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview

_heif_lock = threading.Lock()
_heif_registered = False

# Magic numbers of formats people commonly upload by mistake, for a friendlier refusal.
_KNOWN_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"BM", "BMP"),
    (b"8BPS", "Photoshop (PSD)"),
)


class ImageRejected(WordedError, ValueError):
    """The file is not an image we accept (wrong format, damaged, or too large)."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What a photo is, learned from its header alone (no pixels decoded)."""

    format: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Upright 8-bit RGB pixels, possibly decoded at reduced size.

    ``width``/``height`` are the upright full-resolution size; ``rgb`` may be smaller, and
    ``scale`` is how many full-resolution pixels one decoded pixel spans.
    """

    rgb: npt.NDArray[np.uint8]
    width: int
    height: int
    scale: float
    format: str


def _ensure_heif_opener() -> None:
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _display_name(source: ImageSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return Path(source).name or str(source)
    return "image"


def _head_bytes(source: ImageSource) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:16])
    try:
        with open(source, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def _unsupported(label: str, source: ImageSource) -> ImageRejected:
    head = _head_bytes(source)
    if not head:
        return ImageRejected(N_("%(name)s: the file is empty"), name=label)
    for magic, kind in _KNOWN_SIGNATURES:
        if head.startswith(magic):
            return ImageRejected(
                N_("%(name)s: %(kind)s files are not supported (allowed: %(allowed)s)"),
                name=label,
                kind=kind,
                allowed=_ALLOWED_HUMAN,
            )
    return ImageRejected(
        N_("%(name)s: not a supported image (allowed: %(allowed)s)"),
        name=label,
        allowed=_ALLOWED_HUMAN,
    )


def _pixel_limit(label: str, pixels: int | None, max_pixels: int) -> ImageRejected:
    if pixels is None:
        return ImageRejected(
            N_("%(name)s: the image is over the %(limit)s pixel limit"),
            name=label,
            limit=f"{max_pixels:,}",
        )
    return ImageRejected(
        N_("%(name)s: %(pixels)s pixels is over the %(limit)s pixel limit"),
        name=label,
        pixels=f"{pixels:,}",
        limit=f"{max_pixels:,}",
    )


def _open(source: ImageSource, label: str, max_pixels: int) -> Image.Image:
    """Open (header only) with the format allow-list; decompression bombs become ImageRejected."""
    _ensure_heif_opener()
    # Pillow keeps this switch process-wide and face_recognition turns it on at import; a
    # truncated upload must always be refused, whoever imported what.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    fp: str | os.PathLike[str] | IO[bytes]
    fp = io.BytesIO(bytes(source)) if isinstance(source, bytes | bytearray | memoryview) else source
    try:
        with warnings.catch_warnings():
            # Our own limit is checked right after opening; Pillow's global warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else None
        raise _pixel_limit(label, pixels, max_pixels) from None
    except FileNotFoundError:
        raise ImageRejected(N_("%(name)s: the file does not exist"), name=label) from None
    except UnidentifiedImageError:
        raise _unsupported(label, source) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(
            N_("%(name)s: the image header is damaged (%(detail)s)"), name=label, detail=str(exc)
        ) from None
    if im.format not in ALLOWED_FORMATS:  # defence in depth: plugins can be registered late
        im.close()
        raise _unsupported(label, source)
    return im


def _check_pixels(im: Image.Image, label: str, max_pixels: int) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageRejected(
            N_("%(name)s: the image has no pixels (%(width)sx%(height)s)"),
            name=label,
            width=width,
            height=height,
        )
    if width * height > max_pixels:
        raise _pixel_limit(label, width * height, max_pixels)


def _header_orientation(im: Image.Image) -> int:
    """EXIF orientation without decoding pixels (PNG's eXIf chunk after the pixels is skipped)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not make a good photo unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = size
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def _format_name(im: Image.Image) -> str:
    return "HEIC" if im.format == "HEIF" else str(im.format)


def probe(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> ImageInfo:
    """Read format and upright size from the header. Raises ImageRejected for unusable files."""
    label = _display_name(source, name)
    with _open(source, label, max_pixels) as im:
        _check_pixels(im, label, max_pixels)
        width, height = _upright_size(im.size, _header_orientation(im))
        return ImageInfo(format=_format_name(im), width=width, height=height)


def _decode_error(label: str, exc: BaseException) -> ImageRejected:
    text = str(exc)
    if "truncated" in text or isinstance(exc, EOFError):
        return ImageRejected(
            N_("%(name)s: the file is truncated (the image data ends early)"), name=label
        )
    return ImageRejected(
        N_("%(name)s: the image data is damaged (%(detail)s)"),
        name=label,
        detail=text or type(exc).__name__,
    )


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB: alpha over white, 16/32-bit scaled (not clipped)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        wide = np.asarray(im).astype(np.float64)
        if mode == "I" and wide.size and (wide.min() < 0 or wide.max() > 65535):
            lo, hi = float(wide.min()), float(wide.max())
            wide = (wide - lo) * (65535.0 / (hi - lo)) if hi > lo else np.zeros_like(wide)
        grey = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        grey_f = np.asarray(im).astype(np.float64)
        peak = float(grey_f.max()) if grey_f.size else 0.0
        factor = 255.0 if peak <= 1.0 else 1.0
        return Image.fromarray(
            np.clip(np.rint(grey_f * factor), 0, 255).astype(np.uint8), "L"
        ).convert("RGB")
    has_alpha = (
        mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (mode == "P" and "transparency" in im.info)
        or (mode in ("L", "RGB") and "transparency" in im.info)
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _decode(
    source: ImageSource,
    *,
    max_pixels: int,
    max_side: int | None,
    name: str | None,
    exact: bool,
) -> tuple[Image.Image, int, int, str]:
    """Decode to an upright RGB PIL image. Returns (image, full_width, full_height, format).

    With ``max_side``, JPEGs are decoded at a reduced DCT scale whose longest side is still at
    least ``max_side``; with ``exact`` the result is then resized so the longest side is at most
    ``max_side``.
    """
    if max_side is not None and max_side < 1:
        raise ValueError("max_side must be a positive number of pixels")
    label = _display_name(source, name)
    with _open(source, label, max_pixels) as im:
        _check_pixels(im, label, max_pixels)
        fmt = _format_name(im)
        try:
            orientation = _header_orientation(im)
            full_w, full_h = _upright_size(im.size, orientation)
            if max_side is not None and im.format == "JPEG" and max(im.size) > max_side:
                factor = max_side / max(im.size)
                wanted = (
                    max(1, math.ceil(im.size[0] * factor)),
                    max(1, math.ceil(im.size[1] * factor)),
                )
                im.draft("RGB", wanted)
            im.load()
            if im.format == "PNG":  # PNG's eXIf chunk may only be known once the pixels are read
                orientation = _header_orientation(im)
                full_w, full_h = _upright_size(im.size, orientation)
            rgb = _to_rgb(im)
            if orientation in _TRANSPOSE:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
        except ImageRejected:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _decode_error(label, exc) from None
    if exact and max_side is not None and max(rgb.size) > max_side:
        factor = max_side / max(rgb.size)
        target = (max(1, round(rgb.size[0] * factor)), max(1, round(rgb.size[1] * factor)))
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb, full_w, full_h, fmt


def as_array(im: Image.Image) -> npt.NDArray[np.uint8]:
    """A C-contiguous uint8 HxWx3 array of an RGB PIL image."""
    arr = np.asarray(im, dtype=np.uint8)
    return np.ascontiguousarray(arr)


def load_upright(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
    name: str | None = None,
) -> DecodedImage:
    """Decode a photo to upright 8-bit RGB, optionally no larger than ``max_side`` on its long side.

    Raises ImageRejected (naming the file) for disallowed formats, damaged or truncated data,
    and images over ``max_pixels``.
    """
    rgb_im, width, height, fmt = _decode(
        source, max_pixels=max_pixels, max_side=max_side, name=name, exact=True
    )
    arr = as_array(rgb_im)
    return DecodedImage(rgb=arr, width=width, height=height, scale=width / arr.shape[1], format=fmt)
