"""Scan one photo: decode, find faces (turned, tilted and small ones too), encode them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.blazeface import BlazeFace, Detections, get_detector
from consentcam.faces.chips import Chip, chips_from, native_chips
from consentcam.faces.decode import DEFAULT_MAX_PIXELS, ImageSource, _decode, as_array
from consentcam.faces.engine import Box, FaceEngine, get_engine
from consentcam.faces.plan import Candidate, Pass, detect_passes, merge_with_hog

__all__ = ["DetectedFace", "ScanResult", "ScanSettings", "scan_image"]


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
        every ``tile_step`` px, on photos larger than ``detect_side``. A face of 2% of the
        long side (80 px on a 12 MP photo) is 35 px there: BlazeFace is sure of most faces
        from about 26 px, but of a dark face looking down only from about 35 (at 1280, 26 px,
        it scored such faces 0.05). Tiles overlap by 192 - tile_step = 48 px, so a face up to
        2.7% lies whole in one of them; larger ones are HOG's and the turned passes' too. The
        time grows with the number of tiles, (tile_side/tile_step)^2 roughly (108 on a 4:3
        photo). ``tile_min_face``: smallest face, in pixels of that copy, the tile pass keeps
        (27.5: 1.6%; below, flat patches of wall scored as faces, and a face that small is
        no longer identifiable anyway). ``tile_min_score``: the tile pass also keeps faces
        from this confidence; under ``min_score`` a face needs HOG's ``confirm_hog``.
    smaller_face: on photos larger than ``detect_side``, where HOG scans a reduced copy and
        has no window smaller than about 80 px there, a face HOG and BlazeFace both found
        keeps BlazeFace's box when it is narrower than this share of HOG's (HOG then boxed a
        smaller face with its surroundings).
    min_score: BlazeFace's confidence needed to count a face (MediaPipe's default is 0.5).
    confirm_score, confirm_support, confirm_hog: a face BlazeFace alone found with a
        confidence below ``confirm_score`` counts only if at least ``confirm_support`` of its
        raw detections (anchors, tiles, turns and scales) from ``min_score`` up agree, or if
        dlib's HOG detector, run on the face turned upright and scaled to 100 px, gives it a
        score of at least ``confirm_hog`` (0 is HOG's own threshold; lower is more lenient).
        Hands and patterned walls score 0.5-0.6 with BlazeFace from one or two raw
        detections, and well under -0.7 with HOG; a real face, even one looking down, draws a
        dozen raw detections or more.
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
    tile_side: int = 1760
    tile_step: int = 144
    tile_min_face: float = 27.5
    min_score: float = 0.5
    confirm_score: float = 0.75
    confirm_support: int = 4
    confirm_hog: float = -0.7
    confirm_hog_tiled: float = -1.2
    confirm_score_tiled: float = 0.6
    smaller_face: float = 0.75
    tile_min_score: float = 0.4

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
        if not 0.0 < self.tile_min_score <= self.min_score:
            raise ValueError("tile_min_score must be between 0 and min_score")

    def passes(self, long_side: int) -> list[Pass]:
        """BlazeFace's passes over a photo whose long side is ``long_side`` pixels."""
        out = [
            Pass(side, (0, 1, 2, 3), step=96 if side <= 384 else 128) for side in self.turn_sides
        ]
        if long_side > self.detect_side:
            out.append(
                Pass(self.tile_side, (0,), self.tile_step, self.tile_min_face, self.tile_min_score)
            )
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


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    left, top, right, bottom = box
    return (
        max(round(left), 0),
        max(round(top), 0),
        min(round(right), width),
        min(round(bottom), height),
    )


def _encode(chips: list[Chip], engine: FaceEngine, settings: ScanSettings) -> list[DetectedFace]:
    """Every face's encoding, all chips of the photo through the network at once."""
    if not chips:
        return []
    encodings = engine.encode_chips(np.stack([c[1] for c in chips]), settings.num_jitters)
    return [
        DetectedFace(box, encoding, sharpness, settings.blur_threshold)
        for (box, _, sharpness), encoding in zip(chips, encodings, strict=True)
    ]


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
            if c.source == "blazeface" and score < settings.min_score:
                confirm.append(settings.confirm_hog)
            elif (
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


def _hog_input(
    work: Image.Image, full_size: tuple[int, int], settings: ScanSettings
) -> tuple[npt.NDArray[np.uint8], int]:
    """The pixels HOG scans and the upsample it scans them with.

    A photo no larger than ``detect_side`` is scanned exactly as face_recognition's
    full-resolution upsample-1 scan; a larger one on a copy reduced to ``detect_side``.
    """
    if max(full_size) <= settings.detect_side:
        return as_array(work), settings.native_upsample
    factor = settings.detect_side / max(work.size)
    det_image = work
    if factor < 1.0:
        det_size = (max(1, round(work.width * factor)), max(1, round(work.height * factor)))
        det_image = work.resize(det_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return as_array(det_image), settings.upsample


def _hog_boxes(
    pixels: npt.NDArray[np.uint8], upsample: int, full_size: tuple[int, int], engine: FaceEngine
) -> list[Box]:
    """HOG's boxes in ``pixels`` (see _hog_input), in upright full-resolution pixels."""
    width, height = full_size
    found = engine.detect(pixels, upsample)
    if pixels.shape[:2] != (height, width):
        sx, sy = width / pixels.shape[1], height / pixels.shape[0]
        found = [
            _clip_box((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), width, height) for b in found
        ]
    return [b for b in found if b[2] > b[0] and b[3] > b[1]]


def _both_detectors(
    work: Image.Image,
    full_size: tuple[int, int],
    settings: ScanSettings,
    engine: FaceEngine,
    detector: BlazeFace,
) -> tuple[list[Box], Detections, npt.NDArray[np.uint8]]:
    """HOG's boxes, BlazeFace's faces and HOG's pixels.

    On a photo larger than ``detect_side``, where BlazeFace's tiles take about as long as HOG,
    HOG runs on a second thread meanwhile (dlib and LiteRT release the GIL while they work).
    """
    pixels, upsample = _hog_input(work, full_size, settings)
    passes = settings.passes(max(full_size))
    if max(full_size) <= settings.detect_side:
        hog = _hog_boxes(pixels, upsample, full_size, engine)
        return hog, detect_passes(work, full_size, passes, detector, settings.min_score), pixels
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="consentcam-hog") as beside:
        pending = beside.submit(_hog_boxes, pixels, upsample, full_size, engine)
        found = detect_passes(work, full_size, passes, detector, settings.min_score)
        return pending.result(), found, pixels


def _find_faces(
    work: Image.Image,
    full_size: tuple[int, int],
    settings: ScanSettings,
    engine: FaceEngine,
    detector: BlazeFace | None,
) -> tuple[list[Box], list[float | None], list[float | None], npt.NDArray[np.uint8] | None]:
    """Boxes, rolls and HOG checks (see _clip_candidates) of every candidate face.

    The last value is the photo's pixels when it is scanned at full size (see _hog_input).
    """
    large = max(full_size) > settings.detect_side
    if settings.plan == "combined":
        assert detector is not None
        hog_boxes, found, pixels = _both_detectors(work, full_size, settings, engine, detector)
        smaller = settings.smaller_face if large else 0.0
        candidates = merge_with_hog([_float_box(b) for b in hog_boxes], found, smaller_face=smaller)
    else:
        pixels, upsample = _hog_input(work, full_size, settings)
        hog_boxes = _hog_boxes(pixels, upsample, full_size, engine)
        candidates = [Candidate(_float_box(b), None, None, "hog") for b in hog_boxes]
    return (
        *_clip_candidates(candidates, *full_size, settings, large=large),
        None if large else pixels,
    )


def _detailed_work(
    source: ImageSource,
    work: Image.Image,
    boxes: list[Box],
    full_size: tuple[int, int],
    settings: ScanSettings,
    name: str | None,
) -> Image.Image:
    """The reduced decode, or a larger one when it is too coarse to encode the smallest face."""
    work_scale = full_size[0] / work.width
    smallest = min(min(b[2] - b[0], b[3] - b[1]) for b in boxes)
    if work_scale <= 1.0 or smallest / work_scale >= settings.encode_face_px:
        return work
    needed_side = max(full_size) * settings.encode_face_px / max(smallest, 1)
    larger, _, _, _ = _decode(
        source,
        max_pixels=settings.max_pixels,
        max_side=max(int(needed_side) + 1, settings.detect_side),
        name=name,
        exact=False,
    )
    return larger


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
    boxes, rolls, confirm, rgb = _find_faces(work, (width, height), settings, engine, detector)
    if not boxes:
        chips: list[Chip] = []
    elif rgb is not None:
        chips = native_chips(work, rgb, boxes, rolls, confirm, engine)
    else:
        work = _detailed_work(source, work, boxes, (width, height), settings, name)
        chips = chips_from(work, boxes, (width, height), engine, rolls, confirm)
    faces = _encode(chips, engine, settings)
    return ScanResult(width, height, fmt, faces, time.perf_counter() - started)


def _float_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A box (left, top, right, bottom) as four floats."""
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
