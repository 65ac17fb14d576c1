"""Scan one photo: decode, find faces (turned, tilted and small ones too), encode them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.blazeface import BlazeFace, get_detector
from consentcam.faces.decode import DEFAULT_MAX_PIXELS, ImageSource, _decode, as_array
from consentcam.faces.engine import Box, FaceEngine, get_engine
from consentcam.faces.plan import Candidate, Pass, detect_passes, merge_with_hog

__all__ = ["DetectedFace", "ScanResult", "ScanSettings", "scan_image"]

#: Side of the square grey face crop on which sharpness is measured, so values compare across sizes.
SHARPNESS_SIDE: Final = 128


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """How hard to look for faces.

    plan: ``"combined"`` (the default) runs two detectors and keeps every face either finds
        (boxes overlapping by IoU > 0.3 are one face): dlib's HOG detector as below, and
        BlazeFace full-range over the whole photo and over 192 px tiles of reduced copies, each
        at 0, 90, 180 and 270 degrees, so faces turned any way (a customer on a massage table,
        upside down in an inversion) are found, and, on photos larger than ``detect_side``,
        over tiles of a ``tile_side`` copy at 0 degrees for small faces (a class photographed
        from the back of the room). ``"hog"`` is the previous plan, HOG alone (upright faces
        only), kept for comparison in the benchmark.
    detect_side: photos no larger than this are scanned by HOG exactly like face_recognition's
        full-resolution upsample-1 scan (faces down to about 40 px); larger photos, such as a
        phone's, are scanned by HOG on a copy reduced to this long side with upsample 0, which
        finds faces down to about 80 px in the copy (4% of the long side at the default).
        BlazeFace's tiles find the smaller ones.
    upsample: how many times dlib doubles the detection image (each doubling is ~4x the time and
        halves the smallest face found).
    native_upsample: upsample used for photos no larger than detect_side (1 = face_recognition's
        default, finds faces down to ~40 px).
    turn_sides: long sides, in pixels, of the copies BlazeFace scans at all four quarter turns.
        It finds faces 16-96 px wide in a 192 px tile turned up to 45 degrees either way, so
        (192, 384) covers turned faces from about 4% of the photo's long side upwards.
    tile_side, tile_step: long side of the copy BlazeFace scans upright in 192 px tiles, one
        every ``tile_step`` px, on photos larger than ``detect_side``: faces from about
        16/tile_side of the long side (1.25% at 1280, 50 px on a 12 MP photo). A face of 2% is
        26 px there, where BlazeFace is sure of it; at 960 (19 px) it missed one in ten. Tiles
        overlap by 192 - tile_step px, so a face that small always lies whole in one of them;
        larger faces are HOG's and the turned passes' too. The time grows with the number of
        tiles, (tile_side/tile_step)^2 roughly. ``tile_min_face``: smallest face, in pixels of
        that copy, the tile pass keeps (20: 1.6% at 1280; below, flat patches of wall scored
        as faces, and a face that small is no longer identifiable anyway).
    min_score: BlazeFace's confidence needed to count a face (MediaPipe's default is 0.5).
    confirm_score, confirm_support, confirm_hog: a face BlazeFace alone found with a
        confidence below ``confirm_score`` counts only if at least ``confirm_support`` of its
        raw detections (anchors, tiles, turns and scales) agree, or if dlib's HOG detector, run
        on the face turned upright and scaled to 100 px, gives it a score of at least
        ``confirm_hog`` (0 is HOG's own threshold; lower is more lenient). Hands and patterned
        walls score 0.5-0.6 with BlazeFace from one or two raw detections, and well under -0.7
        with HOG; a real face, even one looking down, draws a dozen raw detections or more.
    confirm_hog_tiled, confirm_score_tiled: on photos larger than ``detect_side``, whose
        smallest faces come from the tile pass, a face BlazeFace gives at least
        ``confirm_score_tiled`` needs only ``confirm_hog_tiled`` from HOG: a face of 2% of a
        12 MP photo's long side is 80 px, scaled up to HOG's window for the check, where real
        faces scored down to about -1.0. Two weak votes, then; a face BlazeFace is less sure
        of still needs ``confirm_hog`` (an ear beside a large face scored 0.53 and -1.04).
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
    plan: Literal["combined", "hog"] = "combined"
    turn_sides: tuple[int, ...] = (192, 384)
    tile_side: int = 1280
    tile_step: int = 160
    tile_min_face: float = 20.0
    min_score: float = 0.5
    confirm_score: float = 0.75
    confirm_support: int = 4
    confirm_hog: float = -0.7
    confirm_hog_tiled: float = -1.2
    confirm_score_tiled: float = 0.6

    def __post_init__(self) -> None:
        if self.detect_side < 100:
            raise ValueError("detect_side must be at least 100 pixels")
        if self.upsample < 0 or self.native_upsample < 0:
            raise ValueError("upsample must not be negative")
        if self.num_jitters < 1:
            raise ValueError("num_jitters must be at least 1")
        if self.encode_face_px < 1 or self.max_pixels < 1:
            raise ValueError("encode_face_px and max_pixels must be positive")
        if self.plan not in ("combined", "hog"):
            raise ValueError("plan must be 'combined' or 'hog'")
        if any(side < 64 for side in (*self.turn_sides, self.tile_side)):
            raise ValueError("turn_sides and tile_side must be at least 64 pixels")
        if not 16 <= self.tile_step <= 192:
            raise ValueError("tile_step must be between 16 and 192 pixels")
        if not 0.0 < self.min_score <= self.confirm_score <= 1.0:
            raise ValueError("min_score must be between 0 and 1, and at most confirm_score")

    def passes(self, long_side: int) -> list[Pass]:
        """BlazeFace's passes over a photo whose long side is ``long_side`` pixels."""
        out = [
            Pass(side, (0, 1, 2, 3), step=96 if side <= 384 else 128) for side in self.turn_sides
        ]
        if long_side > self.detect_side:
            out.append(Pass(self.tile_side, (0,), self.tile_step, self.tile_min_face))
        return out


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


#: Side of the square the HOG confirmation runs on: the face is scaled to half of it (HOG's
#: window is 80 px).
CONFIRM_SIDE: Final = 200


def _hog_agrees(upright: Image.Image, side: float, engine: FaceEngine, threshold: float) -> bool:
    """Does HOG see a face of about this size at the centre of this upright-turned crop?"""
    cx, cy = upright.width / 2.0, upright.height / 2.0
    region = upright.crop((round(cx - side), round(cy - side), round(cx + side), round(cy + side)))
    region = region.resize((CONFIRM_SIDE, CONFIRM_SIDE), Image.Resampling.BILINEAR)
    mid = CONFIRM_SIDE / 2
    for (left, top, right, bottom), score in engine.detect_scored(as_array(region), 0, threshold):
        width = right - left
        if (
            abs((left + right) / 2 - mid) < 0.3 * CONFIRM_SIDE / 2
            and abs((top + bottom) / 2 - mid) < 0.35 * CONFIRM_SIDE / 2
            and 0.25 * CONFIRM_SIDE < width < 0.75 * CONFIRM_SIDE
            and score >= threshold
        ):
            return True
    return False


def _encode_turned(
    image: Image.Image,
    box: tuple[float, float, float, float],
    roll: float,
    engine: FaceEngine,
    settings: ScanSettings,
    confirm: float | None = None,
) -> tuple[npt.NDArray[np.float64], float] | None:
    """Encoding and sharpness of a face turned by ``roll`` degrees, from an upright-turned crop.

    dlib's 5-point landmarks and its encoder expect an upright face: the neighbourhood of the
    face is turned back by its roll first, and the face box is the centred square of its size.
    With ``confirm`` (HOG's threshold), None when HOG does not agree there is a face (see
    ScanSettings).
    """
    left, top, right, bottom = box
    side = max(right - left, bottom - top)
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    # Room for the aligned chip (25% padding) at any roll once turned.
    half = 1.5 * side
    crop = image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    centre = (crop.width / 2.0, crop.height / 2.0)
    upright = crop.rotate(-roll, resample=Image.Resampling.BILINEAR, center=centre)
    if confirm is not None and not _hog_agrees(upright, side, engine, confirm):
        return None
    local = (
        round(centre[0] - side / 2),
        round(centre[1] - side / 2),
        round(centre[0] + side / 2),
        round(centre[1] + side / 2),
    )
    encoding = engine.encode(as_array(upright), [local], settings.num_jitters)[0]
    return encoding, _sharpness(upright, local)


def _encode_from(
    image: Image.Image,
    boxes_full: list[Box],
    full_size: tuple[int, int],
    engine: FaceEngine,
    settings: ScanSettings,
    rolls: list[float | None] | None = None,
    confirm: Sequence[float | None] | None = None,
) -> list[DetectedFace]:
    """Encode faces from a (possibly reduced) decode, one cropped neighbourhood per face."""
    sx = full_size[0] / image.width
    sy = full_size[1] / image.height
    faces: list[DetectedFace] = []
    for n, box in enumerate(boxes_full):
        left, top, right, bottom = box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy
        roll = rolls[n] if rolls is not None else None
        if roll is not None:
            turned = _encode_turned(
                image,
                (left, top, right, bottom),
                roll,
                engine,
                settings,
                confirm=confirm[n] if confirm is not None else None,
            )
            if turned is not None:
                faces.append(DetectedFace(box, turned[0], turned[1], settings.blur_threshold))
            continue
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


def _clip_candidates(
    candidates: list[Candidate], width: int, height: int, settings: ScanSettings, large: bool
) -> tuple[list[Box], list[float | None], list[float | None]]:
    """Clipped boxes, rolls, and the HOG score each face needs to be confirmed.

    None where no confirmation is needed (HOG found it, or BlazeFace is sure); ``large``: the
    photo is larger than ``detect_side`` (see ScanSettings.confirm_hog_tiled).
    """
    boxes: list[Box] = []
    rolls: list[float | None] = []
    confirm: list[float | None] = []
    for c in candidates:
        box = _clip_box(c.box, width, height)
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
            rolls.append(c.roll)
            score = c.score or 0.0
            if (
                c.source != "blazeface"
                or score >= settings.confirm_score
                or c.support >= settings.confirm_support
            ):
                confirm.append(None)
            elif large and score >= settings.confirm_score_tiled:
                confirm.append(settings.confirm_hog_tiled)
            else:
                confirm.append(settings.confirm_hog)
    return boxes, rolls, confirm


def scan_image(
    source: ImageSource,
    settings: ScanSettings | None = None,
    engine: FaceEngine | None = None,
    name: str | None = None,
    detector: BlazeFace | None = None,
) -> ScanResult:
    """Find and encode every face in a photo (path or bytes).

    Boxes are in upright (EXIF-applied) full-resolution pixels. Raises ImageRejected for
    unusable files and EngineUnavailable if a model is missing.
    """
    started = time.perf_counter()
    settings = settings or ScanSettings()
    engine = engine or get_engine()
    engine.load()  # fail early, before the (possibly slow) decode, if models are missing
    if settings.plan == "combined":
        detector = detector or get_detector()
        detector.load()
    work, width, height, fmt = _decode(
        source,
        max_pixels=settings.max_pixels,
        max_side=settings.detect_side,
        name=name,
        exact=False,
    )
    native = max(width, height) <= settings.detect_side
    rgb: npt.NDArray[np.uint8] | None = None
    if native:
        # Small enough: HOG exactly as face_recognition's full-resolution upsample-1 path.
        rgb = as_array(work)
        hog_boxes = engine.detect(rgb, settings.native_upsample)
    else:
        factor = settings.detect_side / max(work.size)
        if factor < 1.0:
            det_size = (max(1, round(work.width * factor)), max(1, round(work.height * factor)))
            det_image = work.resize(det_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        else:
            det_image = work
        det_boxes = engine.detect(as_array(det_image), settings.upsample)
        sx, sy = width / det_image.width, height / det_image.height
        del det_image
        hog_boxes = [
            _clip_box((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), width, height)
            for b in det_boxes
        ]
    hog_boxes = [b for b in hog_boxes if b[2] > b[0] and b[3] > b[1]]

    if settings.plan == "combined":
        assert detector is not None
        found = detect_passes(
            work, (width, height), settings.passes(max(width, height)), detector, settings.min_score
        )
        candidates = merge_with_hog([_float_box(b) for b in hog_boxes], found)
    else:
        candidates = [Candidate(_float_box(b), None, None, "hog") for b in hog_boxes]
    boxes_full, rolls, confirm = _clip_candidates(
        candidates, width, height, settings, large=max(width, height) > settings.detect_side
    )
    if not boxes_full:
        return ScanResult(width, height, fmt, [], time.perf_counter() - started)

    if native:
        assert rgb is not None
        # HOG's own boxes: encoded on the whole photo, exactly as face_recognition does.
        upright = [i for i, r in enumerate(rolls) if r is None]
        encodings = engine.encode(rgb, [boxes_full[i] for i in upright], settings.num_jitters)
        faces: list[DetectedFace | None] = [None] * len(boxes_full)
        for n, i in enumerate(upright):
            box = boxes_full[i]
            faces[i] = DetectedFace(
                box,
                encodings[n],
                _sharpness(work, (box[0], box[1], box[2], box[3])),
                settings.blur_threshold,
            )
        for i, roll in enumerate(rolls):
            if roll is not None:
                turned = _encode_turned(
                    work, _float_box(boxes_full[i]), roll, engine, settings, confirm[i]
                )
                if turned is not None:
                    faces[i] = DetectedFace(
                        boxes_full[i], turned[0], turned[1], settings.blur_threshold
                    )
        done = [f for f in faces if f is not None]
        return ScanResult(width, height, fmt, done, time.perf_counter() - started)

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
    faces_out = _encode_from(work, boxes_full, (width, height), engine, settings, rolls, confirm)
    return ScanResult(width, height, fmt, faces_out, time.perf_counter() - started)


def _float_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A box (left, top, right, bottom) as four floats."""
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
