"""dlib's aligned chips of the faces a scan found, with their sharpness, ready to encode.

Upright faces are aligned from a cropped neighbourhood (or, on a photo scanned at full size,
from the whole photo, as face_recognition does); turned faces from their neighbourhood turned
upright first, where HOG may be asked to confirm an unsure one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from consentcam.faces.decode import as_array
from consentcam.faces.engine import Box, FaceEngine

__all__ = ["Chip", "chips_from", "laplacian_variance", "native_chips", "sharpness"]

#: Side of the square grey face crop on which sharpness is measured, so values compare across sizes.
SHARPNESS_SIDE: Final = 128


def laplacian_variance(grey: npt.NDArray[np.float64]) -> float:
    """Variance of the 4-neighbour Laplacian: a standard, cheap focus measure."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    )
    return float(lap.var())


def sharpness(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """Focus of the face at ``box``: the Laplacian variance of its grey crop at a fixed size."""
    left, top, right, bottom = box
    if right - left < 2 or bottom - top < 2:
        return 0.0
    crop = image.crop((left, top, right, bottom)).convert("L")
    crop = crop.resize((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR)
    return laplacian_variance(np.asarray(crop, dtype=np.float64))


#: Side of the square the HOG confirmation runs on: the face is scaled to half of it (HOG's
#: window is 80 px).
CONFIRM_SIDE: Final = 200

#: One face ready to encode: its box (upright full-resolution pixels), dlib's aligned chip of
#: it and its sharpness.
Chip = tuple[Box, npt.NDArray[np.uint8], float]


def _floats(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A box (left, top, right, bottom) as four floats."""
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


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


def _turned_chip(
    image: Image.Image,
    box: tuple[float, float, float, float],
    roll: float,
    engine: FaceEngine,
    confirm: float | None = None,
) -> tuple[npt.NDArray[np.uint8], float] | None:
    """Aligned chip and sharpness of a face turned by ``roll`` degrees, from an upright crop.

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
    chip = engine.chips(as_array(upright), [local])[0]
    return chip, sharpness(upright, local)


def _upright_chip(
    image: Image.Image, box: tuple[float, float, float, float], engine: FaceEngine
) -> tuple[npt.NDArray[np.uint8], float]:
    """Aligned chip and sharpness of an upright face, from a cropped neighbourhood of it."""
    left, top, right, bottom = box
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
    return engine.chips(crop, [local])[0], sharpness(image, box)


def chips_from(
    image: Image.Image,
    boxes_full: list[Box],
    full_size: tuple[int, int],
    engine: FaceEngine,
    rolls: list[float | None] | None = None,
    confirm: Sequence[float | None] | None = None,
) -> list[Chip]:
    """Chips of the faces from a (possibly reduced) decode, one cropped neighbourhood per face.

    A turned face HOG's check rejects (see ScanSettings) is left out.
    """
    sx = full_size[0] / image.width
    sy = full_size[1] / image.height
    out: list[Chip] = []
    for n, box in enumerate(boxes_full):
        local = (box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy)
        roll = rolls[n] if rolls is not None else None
        if roll is None:
            out.append((box, *_upright_chip(image, local, engine)))
            continue
        turned = _turned_chip(image, local, roll, engine, confirm[n] if confirm else None)
        if turned is not None:
            out.append((box, *turned))
    return out


def native_chips(
    image: Image.Image,
    rgb: npt.NDArray[np.uint8],
    boxes: list[Box],
    rolls: list[float | None],
    confirm: list[float | None],
    engine: FaceEngine,
) -> list[Chip]:
    """Chips of the faces of a photo scanned at full size, in the order of ``boxes``.

    HOG's own boxes are aligned on the whole photo, exactly as face_recognition does.
    """
    upright = [i for i, roll in enumerate(rolls) if roll is None]
    chips = engine.chips(rgb, [boxes[i] for i in upright])
    found: dict[int, Chip] = {}
    for chip, i in zip(chips, upright, strict=True):
        found[i] = (boxes[i], chip, sharpness(image, _floats(boxes[i])))
    for i, roll in enumerate(rolls):
        if roll is not None:
            turned = _turned_chip(image, _floats(boxes[i]), roll, engine, confirm[i])
            if turned is not None:
                found[i] = (boxes[i], *turned)
    return [found[i] for i in sorted(found)]
