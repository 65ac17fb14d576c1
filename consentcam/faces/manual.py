"""Encode a face a person drew by hand around a face the scanner missed, when it can be aligned."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.decode import DEFAULT_MAX_PIXELS, ImageSource, _decode, as_array
from consentcam.faces.engine import Box, FaceEngine, get_engine

__all__ = ["encode_drawn_face"]

#: Side, in pixels, the drawn face is scaled to before looking for it: large enough for the
#: detector and the 150 px aligned chip, small enough to take a few tens of milliseconds.
FACE_SIDE = 160
_TURNS: tuple[Image.Transpose | None, ...] = (
    None,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
)


def _back(turn: Image.Transpose | None, u: float, v: float, w: int, h: int) -> tuple[float, float]:
    """Map a point of the turned crop back to the crop (w x h is the crop's size)."""
    if turn is Image.Transpose.ROTATE_90:  # turned a quarter anticlockwise
        return w - v, u
    if turn is Image.Transpose.ROTATE_270:  # turned a quarter clockwise
        return v, h - u
    if turn is Image.Transpose.ROTATE_180:
        return w - u, h - v
    return u, v


def encode_drawn_face(
    source: ImageSource,
    box: Sequence[int],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    engine: FaceEngine | None = None,
    name: str | None = None,
) -> npt.NDArray[np.float64] | None:
    """Return the 128-d encoding of the face inside ``box``, or None when it cannot be aligned.

    ``box`` is (left, top, right, bottom) in the upright photo at full resolution. The face is
    looked for in a scaled neighbourhood of the box, upright and turned a half and a quarter
    each way (people lie down and hang upside down), and encoded through dlib's 5-point
    alignment only where the detector confirms a face whose centre lies inside the box and
    whose size fits it. A box around a face cut by the frame or mostly covered gives None:
    the person is then chosen by hand, which is better than a template of the wrong thing.
    """
    engine = engine or get_engine()
    engine.load()
    image, width, height, _ = _decode(
        source, max_pixels=max_pixels, max_side=None, name=name, exact=False
    )
    neighbourhood = _neighbourhood(image, box, (width, height))
    if neighbourhood is None:
        return None
    crop, local = neighbourhood
    for turn in _TURNS:
        turned = crop if turn is None else crop.transpose(turn)
        rgb = as_array(turned)
        face = _drawn_face(engine.detect(rgb, 1), turn, crop.size, local)
        if face is not None:
            encoding: npt.NDArray[np.float64] = engine.encode(rgb, [face])[0]
            return encoding
    return None


def _neighbourhood(
    image: Image.Image, box: Sequence[int], full_size: tuple[int, int]
) -> tuple[Image.Image, tuple[float, float, float, float]] | None:
    """The drawn box's neighbourhood scaled so the box is FACE_SIDE px, and the box in it."""
    sx, sy = image.width / full_size[0], image.height / full_size[1]
    left, top, right, bottom = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    side = max(right - left, bottom - top)
    if side < 2:
        return None
    margin = side * 0.6
    c_left = max(int(left - margin), 0)
    c_top = max(int(top - margin), 0)
    c_right = min(int(right + margin) + 1, image.width)
    c_bottom = min(int(bottom + margin) + 1, image.height)
    scale = FACE_SIDE / side
    crop = image.crop((c_left, c_top, c_right, c_bottom))
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    local = (
        (left - c_left) * scale,
        (top - c_top) * scale,
        (right - c_left) * scale,
        (bottom - c_top) * scale,
    )
    return crop.resize(size, Image.Resampling.BILINEAR), local


def _drawn_face(
    found: Sequence[Box],
    turn: Image.Transpose | None,
    crop_size: tuple[int, int],
    local: tuple[float, float, float, float],
) -> Box | None:
    """The detected face (in the turned crop) that was meant: centre inside the drawn box, a
    size that fits it, and the closest to its centre."""
    drawn_side = max(local[2] - local[0], local[3] - local[1])
    best: tuple[float, Box] | None = None
    for face in found:
        cu, cv = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
        cx, cy = _back(turn, cu, cv, *crop_size)
        if not (local[0] <= cx <= local[2] and local[1] <= cy <= local[3]):
            continue
        found_side = max(face[2] - face[0], face[3] - face[1])
        if not 0.4 <= found_side / drawn_side <= 2.5:
            continue
        miss = abs(cx - (local[0] + local[2]) / 2) + abs(cy - (local[1] + local[3]) / 2)
        if best is None or miss < best[0]:
            best = (miss, face)
    return None if best is None else best[1]
