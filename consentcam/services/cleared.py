"""The cleared copy: the only image that ever leaves the app (re-encoded, stripped, faces blurred)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageFilter

from consentcam.faces.decode import load_upright
from consentcam.models import Photo
from consentcam.runtime import Runtime

# Instagram's feed limits (also fine for Facebook): width and aspect ratio (width / height).
MIN_WIDTH = 320
MAX_WIDTH = 1440
MIN_ASPECT = 4 / 5
MAX_ASPECT = 1.91
PAD_COLOUR = (238, 236, 232)  # a warm light grey that sits quietly next to most photos
JPEG_QUALITY = 88
# Decode no larger than needed: the tallest allowed output is 1440 / 0.8 = 1800 px high, and a
# crop of a very wide photo still needs some room, so twice that is plenty.
DECODE_SIDE = 3600
# A blurred face: the box grows by this share of its size on every side (hair, ears, jaw) ...
BLUR_MARGIN = 0.3
# ... is reduced to this many blocks across (nothing of the face survives) ...
BLUR_BLOCKS = 8
# ... and is then smeared by a Gaussian blur this large relative to the region's size.
BLUR_RADIUS_SHARE = 0.12

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class ClearedCopy:
    key: str
    sha256: str
    width: int
    height: int
    size_bytes: int


def to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert RGB pixels from their embedded colour profile to sRGB (no profile: already sRGB)."""
    if not icc_profile:
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if source.profile.xcolor_space.strip() != "RGB":
            # A CMYK or grey profile cannot describe the RGB pixels the decoder produced.
            return im
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(
            im, source, srgb, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A damaged profile: publishing slightly off colours beats not publishing.
        return im
    return converted if converted is not None else im


def source_icc_profile(data: bytes) -> bytes | None:
    """The embedded ICC profile of an image file, if any (read from the header only)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            profile = im.info.get("icc_profile")
    except (OSError, ValueError, SyntaxError):
        return None
    return profile if isinstance(profile, bytes) and profile else None


def expand_box(box: Box, margin: float, width: int, height: int) -> Box:
    left, top, right, bottom = box
    dx = (right - left) * margin
    dy = (bottom - top) * margin
    return (
        max(0, int(left - dx)),
        max(0, int(top - dy)),
        min(width, int(round(right + dx))),
        min(height, int(round(bottom + dy))),
    )


def blur_faces(im: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """Make each face unrecognisable: pixelate the grown box to a few blocks, then blur it heavily."""
    out = im.copy()
    for box in boxes:
        region_box = expand_box(box, BLUR_MARGIN, out.width, out.height)
        left, top, right, bottom = region_box
        if right - left < 2 or bottom - top < 2:
            continue
        region = out.crop(region_box)
        w, h = region.size
        blocks = region.resize(
            (max(1, min(BLUR_BLOCKS, w)), max(1, min(BLUR_BLOCKS, h))), Image.Resampling.BOX
        )
        pixelated = blocks.resize((w, h), Image.Resampling.NEAREST)
        radius = max(2.0, BLUR_RADIUS_SHARE * max(w, h))
        out.paste(pixelated.filter(ImageFilter.GaussianBlur(radius)), (left, top))
    return out


def crop_window(width: int, height: int, target_aspect: float, faces: Sequence[Box]) -> Box:
    """A centred window of `target_aspect`, slid (not grown) to keep every face inside if possible."""
    if width / height > target_aspect:
        cw, ch = max(1, math.floor(height * target_aspect)), height
    else:
        cw, ch = width, max(1, math.floor(width / target_aspect))
    left = (width - cw) // 2
    top = (height - ch) // 2
    if faces:
        f_left = min(b[0] for b in faces)
        f_top = min(b[1] for b in faces)
        f_right = max(b[2] for b in faces)
        f_bottom = max(b[3] for b in faces)
        # Slide so the faces fit; when they cannot all fit, centre on them instead.
        if f_right - f_left <= cw:
            left = min(max(left, f_right - cw), f_left)
        else:
            left = (f_left + f_right - cw) // 2
        if f_bottom - f_top <= ch:
            top = min(max(top, f_bottom - ch), f_top)
        else:
            top = (f_top + f_bottom - ch) // 2
        left = min(max(0, left), width - cw)
        top = min(max(0, top), height - ch)
    return (left, top, left + cw, top + ch)


def shape(im: Image.Image, fit: str, faces: Sequence[Box] = ()) -> Image.Image:
    """Bring the aspect ratio within 4:5 .. 1.91:1 (pad or crop), then the width within 320 .. 1440."""
    if fit not in ("pad", "crop"):
        raise ValueError("fit must be 'pad' or 'crop'")
    width, height = im.size
    aspect = width / height
    target = min(max(aspect, MIN_ASPECT), MAX_ASPECT)
    if abs(target - aspect) > 1e-6:
        if fit == "crop":
            im = im.crop(crop_window(width, height, target, faces))
        else:
            if aspect < target:  # too tall: bars left and right
                new_w, new_h = math.ceil(height * target), height
            else:  # too wide: bars above and below
                new_w, new_h = width, math.ceil(width / target)
            canvas = Image.new("RGB", (new_w, new_h), PAD_COLOUR)
            canvas.paste(im, ((new_w - width) // 2, (new_h - height) // 2))
            im = canvas
    width, height = im.size
    new_w = min(max(width, MIN_WIDTH), MAX_WIDTH)
    if new_w != width:
        new_h = max(1, round(height * new_w / width))
        # Keep the aspect within limits after rounding the height.
        new_h = min(max(new_h, math.ceil(new_w / MAX_ASPECT)), math.floor(new_w / MIN_ASPECT))
        im = im.resize((new_w, new_h), Image.Resampling.LANCZOS)
    return im


def encode_jpeg(im: Image.Image) -> bytes:
    """Baseline sRGB JPEG with no EXIF, GPS, XMP, ICC profile or comment."""
    clean = Image.new("RGB", im.size)
    clean.paste(im.convert("RGB"))  # a fresh image carries no info dict from its source
    buf = io.BytesIO()
    clean.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True, subsampling="4:2:0")
    return buf.getvalue()


def render(
    data: bytes,
    *,
    blur: Sequence[Box] = (),
    faces: Sequence[Box] = (),
    fit: str = "pad",
    max_pixels: int = 100_000_000,
    name: str | None = None,
) -> bytes:
    """Render the cleared copy of an original (bytes) as JPEG bytes.

    `blur` and `faces` are boxes in the upright original at full resolution: `blur` are made
    unrecognisable, `faces` are kept inside a crop where possible.
    """
    decoded = load_upright(data, max_pixels=max_pixels, max_side=DECODE_SIDE, name=name)
    im = Image.fromarray(decoded.rgb, "RGB")
    im = to_srgb(im, source_icc_profile(data))
    scale = decoded.scale  # full-resolution pixels per decoded pixel

    def scaled(box: Box) -> Box:
        return (
            int(box[0] / scale),
            int(box[1] / scale),
            int(round(box[2] / scale)),
            int(round(box[3] / scale)),
        )

    if blur:
        im = blur_faces(im, [scaled(b) for b in blur])
    im = shape(im, fit, [scaled(b) for b in faces])
    return encode_jpeg(im)


def make_cleared_copy(rt: Runtime, photo: Photo, fit: str = "pad") -> ClearedCopy:
    """Render and store (storage kind "cleared") the copy of `photo` that may be published."""
    original = rt.storage.read(photo.original_key)
    jpeg = render(
        original,
        blur=[f.box for f in photo.faces if f.blur],
        faces=[f.box for f in photo.faces if not f.blur],
        fit=fit,
        max_pixels=int(rt.settings["MAX_PIXELS"]),
        name=photo.original_name,
    )
    key, digest = rt.storage.put("cleared", jpeg, "jpg")
    with Image.open(io.BytesIO(jpeg)) as im:
        width, height = im.size
    return ClearedCopy(key, digest, width, height, len(jpeg))
