"""The scan plan: BlazeFace over tiles and quarter turns of a photo, merged with dlib's HOG boxes.

Every box here is in upright full-resolution pixels of the photo. A pass scans a copy of the
photo whose long side is ``side`` pixels, in 192 px tiles, once per quarter turn it lists; what
it finds is turned back and scaled up before the passes are merged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.blazeface import (
    INPUT_SIDE,
    BlazeFace,
    Detections,
    iou_matrix,
    to_input,
    weighted_nms,
)

__all__ = [
    "Candidate",
    "Pass",
    "detect_passes",
    "merge_with_hog",
    "tile_origins",
    "turn_back",
]

#: How BlazeFace's box relates to dlib's HOG box of the same face, in the face's own upright
#: frame: moved towards the chin by FACE_SHIFT_DOWN of its width, scaled by FACE_SCALE.
#: Measured on tests/data/faces: median centre offset under 0.03 of the width, median width
#: ratio 1.02, so both are left at the identity.
FACE_SHIFT_DOWN: Final = 0.0
FACE_SCALE: Final = 1.0
#: Smallest face, in pixels of a 192 px tile, a pass keeps. BlazeFace's scores fall apart below
#: about 14 px (half of 13 real faces still pass 0.5 at 12 px, but so does texture); a smaller
#: face is the next finer pass's to find, where it is larger.
MIN_TILE_FACE_PX: Final = 14.0


@dataclass(frozen=True, slots=True)
class Pass:
    """One detection pass: a copy ``side`` px on its long side, scanned at these quarter turns.

    min_face: smallest face, in pixels of a 192 px tile, the pass keeps.
    min_score: BlazeFace's confidence a detection of this pass needs; None: the scan's own.
    """

    side: int
    quarter_turns: tuple[int, ...] = (0,)
    step: int = 128
    min_face: float = MIN_TILE_FACE_PX
    min_score: float | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A face: its box (upright full-resolution pixels) and how it lies in the photo.

    roll: angle in degrees by which the face is turned in the photo (0 upright, 90 lying with
        the top of the head to the image's left ... measured from the eyes, counter-clockwise
        on screen). None for HOG boxes (upright faces).
    score: BlazeFace's confidence, or None for a HOG box BlazeFace did not see.
    support: how many of BlazeFace's raw detections (anchors, tiles, turns, scales) agreed.
    """

    box: tuple[float, float, float, float]
    roll: float | None
    score: float | None
    source: str  # "hog", "blazeface" or "both"
    support: int = 0


def tile_origins(length: int, step: int, tile: int = INPUT_SIDE) -> list[int]:
    """Start offsets of tiles covering ``length`` pixels; the last tile ends at the edge."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, step))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def turn_back(
    points: npt.NDArray[np.float64], quarter_turns: int, width: int, height: int
) -> npt.NDArray[np.float64]:
    """Map (x, y) points of ``np.rot90(image, quarter_turns)`` back onto ``image`` (width x height).

    np.rot90 turns counter-clockwise on screen; coordinates are continuous (pixel edges at
    integers), so the mapping is exact for boxes.
    """
    k = quarter_turns % 4
    x, y = points[..., 0], points[..., 1]
    if k == 0:
        back = (x, y)
    elif k == 1:
        back = (width - y, x)
    elif k == 2:
        back = (width - x, height - y)
    else:
        back = (y, height - x)
    return np.stack(back, axis=-1)


def _scan_level(
    level: npt.NDArray[np.float32],
    quarter_turns: Sequence[int],
    step: int,
    detector: BlazeFace,
    min_score: float,
    min_face: float = MIN_TILE_FACE_PX,
) -> Detections:
    """Every detection in one scaled copy at each quarter turn, in the copy's upright pixels."""
    height, width = level.shape[:2]
    found: list[Detections] = []
    for k in quarter_turns:
        turned = np.rot90(level, k)
        th, tw = turned.shape[:2]
        if th < INPUT_SIDE or tw < INPUT_SIDE:  # letterbox: black (-1) below and to the right
            canvas = np.full((max(th, INPUT_SIDE), max(tw, INPUT_SIDE), 3), -1.0, dtype=np.float32)
            canvas[:th, :tw] = turned
            turned = canvas
        for oy in tile_origins(turned.shape[0], step):
            for ox in tile_origins(turned.shape[1], step):
                tile = turned[oy : oy + INPUT_SIDE, ox : ox + INPUT_SIDE]
                hits = detector.detect(tile, min_score)
                if len(hits):
                    sides = np.minimum(
                        hits.boxes[:, 2] - hits.boxes[:, 0], hits.boxes[:, 3] - hits.boxes[:, 1]
                    )
                    hits = hits.take(np.flatnonzero(sides >= min_face))
                if not len(hits):
                    continue
                offset = np.array([ox, oy], dtype=np.float64)
                corners = hits.boxes.reshape(-1, 2, 2) + offset
                corners = turn_back(corners, k, width, height)
                boxes = np.concatenate(
                    [corners.min(axis=1), corners.max(axis=1)], axis=1
                )  # turned back, a box's corners may swap
                points = turn_back(hits.keypoints + offset, k, width, height)
                found.append(Detections(boxes, hits.scores, points))
    return Detections.concat(found)


def detect_passes(
    image: Image.Image,
    full_size: tuple[int, int],
    passes: Sequence[Pass],
    detector: BlazeFace,
    min_score: float,
    nms_iou: float = 0.3,
) -> Detections:
    """Run every pass over ``image`` (any decode of the photo) and merge: upright full-res pixels.

    A pass may keep detections below ``min_score`` (see Pass.min_score); those count for no
    support: a face made only of them has support 0.
    """
    full_w, full_h = full_size
    found: list[Detections] = []
    source = image
    for p in sorted(passes, key=lambda p: -p.side):
        # Never finer than the photo itself: a copy larger than full resolution adds no detail.
        factor = min(p.side, max(full_size)) / max(image.size)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        if max(source.size) < 2 * max(size):
            source = image
        # Each copy from the last one when that is at least twice as large (cheaper, as sharp).
        copy = image if size == image.size else source.resize(size, Image.Resampling.BILINEAR)
        source = copy
        level = to_input(np.asarray(copy, dtype=np.uint8))
        score = min_score if p.min_score is None else p.min_score
        hits = _scan_level(level, p.quarter_turns, p.step, detector, score, p.min_face)
        if not len(hits):
            continue
        sx, sy = full_w / size[0], full_h / size[1]
        scale = np.array([sx, sy, sx, sy])
        support = hits.counts() * (hits.scores >= min_score)
        found.append(
            Detections(
                hits.boxes * scale, hits.scores, hits.keypoints * np.array([sx, sy]), support
            )
        )
    return weighted_nms(Detections.concat(found), nms_iou)


def roll_degrees(keypoints: npt.NDArray[np.float64]) -> float:
    """How far a face is turned, from its eyes: 0 upright, 90 with the head towards the left."""
    (x0, y0), (x1, y1) = keypoints[0], keypoints[1]
    # Upright, eye 0 is on the image's left; y grows downwards, so negate for screen angles.
    return math.degrees(math.atan2(-(y1 - y0), x1 - x0))


def face_box(blaze_box: npt.NDArray[np.float64], roll: float) -> tuple[float, float, float, float]:
    """The HOG-like face box for a BlazeFace box of a face turned by ``roll`` degrees.

    A face-sized square centred on the face, like the labels and HOG's boxes, whatever the
    roll (for a face at 45 degrees the axis-aligned box around it would be 1.4 times wider).
    """
    left, top, right, bottom = (float(v) for v in blaze_box)
    side = ((right - left) + (bottom - top)) / 2.0 * FACE_SCALE
    rad = math.radians(roll)
    # "Down" in the face's frame, on screen: (sin, cos) of the roll (y grows downwards).
    down_x, down_y = math.sin(rad), math.cos(rad)
    cx = (left + right) / 2.0 + FACE_SHIFT_DOWN * side * down_x
    cy = (top + bottom) / 2.0 + FACE_SHIFT_DOWN * side * down_y
    half = side / 2.0
    return (cx - half, cy - half, cx + half, cy + half)


def merge_with_hog(
    hog_boxes: Sequence[tuple[float, float, float, float]],
    found: Detections,
    same_face_iou: float = 0.3,
    smaller_face: float = 0.0,
) -> list[Candidate]:
    """HOG boxes and BlazeFace faces as one list: overlapping above ``same_face_iou`` is one face.

    Where both saw a face, HOG's box is kept (the landmarks and encodings were tuned on it),
    unless BlazeFace's box is narrower than ``smaller_face`` times HOG's: HOG, scanning a
    reduced copy, has no window smaller than about 80 px there and boxes a smaller face with
    the face's surroundings; BlazeFace's finer tiles box it as it is.
    """
    out: list[Candidate] = []
    blaze = [
        (face_box(found.boxes[i], roll_degrees(found.keypoints[i])), i) for i in range(len(found))
    ]
    blaze_boxes = np.array([b for b, _ in blaze], dtype=np.float64).reshape(-1, 4)
    hog = np.array(hog_boxes, dtype=np.float64).reshape(-1, 4)
    overlap = iou_matrix(hog, blaze_boxes) if len(hog) and len(blaze) else None
    matched: set[int] = set()
    for h, box in enumerate(hog_boxes):
        kept = (box[0], box[1], box[2], box[3])
        score = None
        if overlap is not None and overlap.shape[1]:
            j = int(np.argmax(overlap[h]))
            if overlap[h, j] > same_face_iou:
                matched.add(j)
                score = float(found.scores[blaze[j][1]])
                if blaze[j][0][2] - blaze[j][0][0] < smaller_face * (box[2] - box[0]):
                    kept = blaze[j][0]
        out.append(Candidate(kept, None, score, "both" if score is not None else "hog"))
    for j, (box, i) in enumerate(blaze):
        if j in matched:
            continue
        if overlap is not None and (overlap[:, j] > same_face_iou).any():
            continue
        out.append(
            Candidate(
                box,
                roll_degrees(found.keypoints[i]),
                float(found.scores[i]),
                "blazeface",
                int(found.counts()[i]),
            )
        )
    return _without_nested(out)


#: A face that lies this much (share of its area) inside a face at least NESTED_SCALE times as
#: wide is the same face, found again at another scale (part of it, or with its surroundings).
NESTED_INSIDE: Final = 0.8
NESTED_SCALE: Final = 1.5


def _without_nested(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates but one of each pair nested in the other (see NESTED_INSIDE).

    Of two faces BlazeFace saw, one inside the other, the one it is surer of stays; a box HOG
    found stays in any case (HOG alone sometimes boxes a face with its surroundings, and the
    face inside is the true one).
    """
    boxes = np.array([c.box for c in candidates], dtype=np.float64).reshape(-1, 4)
    widths = boxes[:, 2] - boxes[:, 0]
    areas = widths * (boxes[:, 3] - boxes[:, 1])
    left = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    top = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    right = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    bottom = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    # inside[j, i]: candidate j lies inside candidate i, which is much larger.
    inside = (inter >= NESTED_INSIDE * areas[:, None]) & (
        widths[None, :] >= NESTED_SCALE * widths[:, None]
    )
    dropped: set[int] = set()
    for j, i in zip(*np.nonzero(inside), strict=True):
        small, large = candidates[j], candidates[i]
        if small.score is None or large.score is None:
            continue
        loser = int(j) if large.score >= small.score else int(i)
        if candidates[loser].source == "blazeface" and not {int(i), int(j)} & dropped:
            dropped.add(loser)
    return [c for n, c in enumerate(candidates) if n not in dropped]
