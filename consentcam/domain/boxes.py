"""When two face boxes are the same face: the one rule the re-scans and hand-drawn faces share."""

from __future__ import annotations

from collections.abc import Sequence


def centre_inside(box: Sequence[float], others: Sequence[Sequence[float]]) -> bool:
    """True when the centre of `box` (left, top, right, bottom) lies inside one of `others`."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(o[0] <= cx <= o[2] and o[1] <= cy <= o[3] for o in others)


def same_face(box: Sequence[float], other: Sequence[float]) -> bool:
    """Two boxes mark the same face when the centre of either lies inside the other."""
    return centre_inside(box, [other]) or centre_inside(other, [box])
