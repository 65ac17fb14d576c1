"""Scan one photo: decode, find faces at a reduced resolution, encode them at a sufficient one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.decode import DEFAULT_MAX_PIXELS, ImageSource, _decode, as_array
from consentcam.faces.engine import Box, FaceEngine, get_engine

__all__ = ["DetectedFace", "ScanResult", "ScanSettings", "scan_image"]

#: Side of the square grey face crop on which sharpness is measured, so values compare across sizes.
SHARPNESS_SIDE: Final = 128


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """How hard to look for faces.

    detect_side: photos no larger than this are scanned exactly like face_recognition's
        full-resolution upsample-1 scan (faces down to about 40 px); larger photos, such as a
        phone's, are scanned on a copy reduced to this long side with upsample 0. The
        detector finds faces down to about 80 px in the scanned copy, so the smallest face found is ``80 * long_side / detect_side`` full-resolution
        pixels: 4% of the long side at the default (160 px on a 12 MP photo, about 58 px in
        a 1440 px wide Instagram copy of it). Raise it to find smaller faces, at about
        ``(detect_side / 2000) ** 2`` times the detection time.
    upsample: how many times dlib doubles the detection image (each doubling is ~4x the time and
        halves the smallest face found).
    native_upsample: upsample used for photos no larger than detect_side (1 = face_recognition's
        default, finds faces down to ~40 px).
    encode_face_px: minimum face-box width, in pixels of the image the encoding is computed from;
        if the reduced decode is too small for a face, a larger one is decoded for its encoding.
    blur_threshold: faces whose sharpness is below this are flagged ``blurry`` (a UI hint only).
    """

    detect_side: int = 2000
    upsample: int = 0
    native_upsample: int = 1
    max_pixels: int = DEFAULT_MAX_PIXELS
    num_jitters: int = 1
    encode_face_px: int = 150
    blur_threshold: float = 40.0

    def __post_init__(self) -> None:
        if self.detect_side < 100:
            raise ValueError("detect_side must be at least 100 pixels")
        if self.upsample < 0 or self.native_upsample < 0:
            raise ValueError("upsample must not be negative")
        if self.num_jitters < 1:
            raise ValueError("num_jitters must be at least 1")
        if self.encode_face_px < 1 or self.max_pixels < 1:
            raise ValueError("encode_face_px and max_pixels must be positive")


@dataclass(frozen=True, slots=True)
class DetectedFace:
    """One face: box (left, top, right, bottom) in upright full-resolution pixels."""

    box: Box
    encoding: npt.NDArray[np.float64] = field(repr=False)
    sharpness: float
    blur_threshold: float = 40.0

    @property
    def blurry(self) -> bool:
        """True when the face is probably too blurry to identify (a hint, not a verdict)."""
        return self.sharpness < self.blur_threshold


@dataclass(frozen=True, slots=True)
class ScanResult:
    """All faces found in one photo, with the photo's upright full-resolution size."""

    width: int
    height: int
    format: str
    faces: list[DetectedFace]
    seconds: float


def laplacian_variance(grey: npt.NDArray[np.float64]) -> float:
    """Variance of the 4-neighbour Laplacian: a standard, cheap focus measure."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    )
    return float(lap.var())


def _sharpness(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    left, top, right, bottom = box
    if right - left < 2 or bottom - top < 2:
        return 0.0
    crop = image.crop((left, top, right, bottom)).convert("L")
    crop = crop.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR)
    return laplacian_variance(np.asarray(crop, dtype=np.float64))


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    left, top, right, bottom = box
    return (
        max(round(left), 0),
        max(round(top), 0),
        min(round(right), width),
        min(round(bottom), height),
    )


def _encode_from(
    image: Image.Image,
    boxes_full: list[Box],
    full_size: tuple[int, int],
    engine: FaceEngine,
    settings: ScanSettings,
) -> list[DetectedFace]:
    """Encode faces from a (possibly reduced) decode, one cropped neighbourhood per face."""
    sx = full_size[0] / image.width
    sy = full_size[1] / image.height
    faces: list[DetectedFace] = []
    for box in boxes_full:
        left, top, right, bottom = box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy
        # A generous margin so the aligned 150x150 chip (25% padding, any roll) lies inside.
        margin = max(right - left, bottom - top)
        c_left = max(int(left - margin), 0)
        c_top = max(int(top - margin), 0)
        c_right = min(int(right + margin) + 1, image.width)
        c_bottom = min(int(bottom + margin) + 1, image.height)
        crop = as_array(image.crop((c_left, c_top, c_right, c_bottom)))
        local: Box = (
            round(left) - c_left,
            round(top) - c_top,
            round(right) - c_left,
            round(bottom) - c_top,
        )
        encoding = engine.encode(crop, [local], settings.num_jitters)[0]
        sharp = _sharpness(image, (left, top, right, bottom))
        faces.append(DetectedFace(box, encoding, sharp, settings.blur_threshold))
    return faces


def scan_image(
    source: ImageSource,
    settings: ScanSettings | None = None,
    engine: FaceEngine | None = None,
    name: str | None = None,
) -> ScanResult:
    """Find and encode every face in a photo (path or bytes).

    Raises ImageRejected for unusable files and EngineUnavailable if the models are missing.
    """
    started = time.perf_counter()
    settings = settings or ScanSettings()
    engine = engine or get_engine()
    engine.load()  # fail early, before the (possibly slow) decode, if models are missing
    work, width, height, fmt = _decode(
        source,
        max_pixels=settings.max_pixels,
        max_side=settings.detect_side,
        name=name,
        exact=False,
    )
    if max(width, height) <= settings.detect_side:
        # Small enough: exactly face_recognition's full-resolution upsample-1 path.
        rgb = as_array(work)
        boxes = engine.detect(rgb, settings.native_upsample)
        encodings = engine.encode(rgb, boxes, settings.num_jitters)
        faces = [
            DetectedFace(
                box,
                encodings[i],
                _sharpness(work, (box[0], box[1], box[2], box[3])),
                settings.blur_threshold,
            )
            for i, box in enumerate(boxes)
        ]
        return ScanResult(width, height, fmt, faces, time.perf_counter() - started)

    factor = settings.detect_side / max(work.size)
    if factor < 1.0:
        det_size = (max(1, round(work.width * factor)), max(1, round(work.height * factor)))
        det_image = work.resize(det_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    else:
        det_image = work
    det_boxes = engine.detect(as_array(det_image), settings.upsample)
    sx, sy = width / det_image.width, height / det_image.height
    del det_image
    boxes_full = [
        _clip_box((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), width, height) for b in det_boxes
    ]
    boxes_full = [b for b in boxes_full if b[2] > b[0] and b[3] > b[1]]
    if not boxes_full:
        return ScanResult(width, height, fmt, [], time.perf_counter() - started)

    # Is the reduced decode detailed enough to encode every face without upsampling it?
    work_scale = width / work.width
    smallest = min(min(b[2] - b[0], b[3] - b[1]) for b in boxes_full)
    if work_scale > 1.0 and smallest / work_scale < settings.encode_face_px:
        needed_side = max(width, height) * settings.encode_face_px / max(smallest, 1)
        del work
        work, _, _, _ = _decode(
            source,
            max_pixels=settings.max_pixels,
            max_side=max(int(needed_side) + 1, settings.detect_side),
            name=name,
            exact=False,
        )
    faces = _encode_from(work, boxes_full, (width, height), engine, settings)
    return ScanResult(width, height, fmt, faces, time.perf_counter() - started)
