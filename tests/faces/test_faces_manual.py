"""Encoding a face drawn by hand: found upright, upside down and on its side; nothing elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from consentcam.faces import FaceEngine
from consentcam.faces.manual import encode_drawn_face

from .helpers import DATA, jpeg_bytes

REL = "unknown/two_people.jpg"
OBAMA = (253, 47, 408, 202)  # LABELS.json


def _turn(box: tuple[int, int, int, int], turn: Image.Transpose | None, w: int, h: int) -> Any:
    left, top, right, bottom = box
    if turn is Image.Transpose.ROTATE_180:
        return (w - right, h - bottom, w - left, h - top)
    if turn is Image.Transpose.ROTATE_90:  # a quarter anticlockwise: (x, y) -> (y, w - x)
        return (top, w - right, bottom, w - left)
    if turn is Image.Transpose.ROTATE_270:  # a quarter clockwise: (x, y) -> (h - y, x)
        return (h - bottom, left, h - top, right)
    return box


@pytest.fixture(scope="module")
def upright(engine: FaceEngine) -> np.ndarray:
    found = encode_drawn_face(DATA / REL, OBAMA, engine=engine)
    assert found is not None
    return found


@pytest.mark.parametrize(
    "turn",
    [Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270],
    ids=["180", "90", "270"],
)
def test_a_turned_face_gives_the_same_person(
    engine: FaceEngine, upright: np.ndarray, turn: Image.Transpose
) -> None:
    im = Image.open(DATA / REL).convert("RGB")
    turned = im.transpose(turn)
    found = encode_drawn_face(jpeg_bytes(turned), _turn(OBAMA, turn, *im.size), engine=engine)
    assert found is not None
    assert float(np.linalg.norm(found - upright)) < 0.2


def test_the_encoding_is_that_of_the_face_in_the_box(
    engine: FaceEngine, upright: np.ndarray, labelled_scans: Any
) -> None:
    scan = labelled_scans[REL]
    by_distance = sorted((float(np.linalg.norm(f.encoding - upright)), f.box) for f in scan.faces)
    nearest_distance, nearest_box = by_distance[0]
    assert nearest_distance < 0.15
    assert abs(nearest_box[0] - OBAMA[0]) < 20  # Obama's, not Biden's next to him
    assert by_distance[1][0] > 0.6


def test_a_box_without_a_face_gives_nothing(engine: FaceEngine) -> None:
    assert encode_drawn_face(DATA / REL, (0, 250, 150, 400), engine=engine) is None
