"""The dlib engine: parity with face_recognition, lazy loading, clear failure when models are missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from consentcam.faces import EngineUnavailable, FaceEngine, load_upright, scan_image
from consentcam.faces import engine as engine_mod

from .helpers import DATA, import_face_recognition

PACKAGE_DIR = Path(engine_mod.__file__).resolve().parent


@pytest.mark.parametrize("rel", ["unknown/two_people.jpg", "unknown/kit_with_rose.jpg"])
def test_detection_and_encodings_match_face_recognition(engine: FaceEngine, rel: str) -> None:
    fr = import_face_recognition()
    rgb = load_upright(DATA / rel).rgb
    assert np.array_equal(rgb, fr.load_image_file(DATA / rel))  # same pixels to start from

    ours = engine.detect(rgb, upsample=1)
    theirs = fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
    assert sorted(ours) == sorted((left, top, right, bottom) for top, right, bottom, left in theirs)
    assert len(ours) >= 2

    encodings = engine.encode(rgb, ours, num_jitters=1)
    reference = fr.face_encodings(
        rgb,
        known_face_locations=[(top, right, bottom, left) for left, top, right, bottom in ours],
        num_jitters=1,
        model="small",
    )
    assert encodings.shape == (len(ours), 128)
    assert encodings.dtype == np.float64
    assert np.abs(encodings - np.array(reference)).max() <= 1e-6


def test_encoding_parity_on_a_box_cut_by_the_border(engine: FaceEngine) -> None:
    fr = import_face_recognition()
    rgb = load_upright(DATA / "edge" / "partial_face.jpg").rgb
    boxes = engine.detect(rgb, upsample=1)
    assert boxes and boxes[0][0] == 0  # clipped at the left edge, as face_recognition does
    reference = fr.face_encodings(rgb, [(t, r, b, left) for left, t, r, b in boxes], model="small")
    assert np.abs(engine.encode(rgb, boxes) - np.array(reference)).max() <= 1e-6


def test_engine_rejects_non_rgb_arrays(engine: FaceEngine) -> None:
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        engine.detect(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        engine.encode(np.zeros((10, 10, 3), dtype=np.float32), [(0, 0, 5, 5)])


def test_models_are_found_without_importing_the_models_package() -> None:
    code = (
        "import sys, consentcam.faces as f\n"
        "assert 'dlib' not in sys.modules, 'dlib imported at import time'\n"
        "files = f.locate_models()\n"
        "assert files.shape_predictor.name == 'shape_predictor_5_face_landmarks.dat'\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "assert 'face_recognition' not in sys.modules\n"
        "f.get_engine().load()\n"
        "assert 'dlib' in sys.modules\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "assert 'face_recognition' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_no_face_recognition_import_and_no_68_point_model_in_the_package() -> None:
    for source in PACKAGE_DIR.rglob("*.py"):
        text = source.read_text()
        assert "import face_recognition\n" not in text, source
        assert "from face_recognition " not in text, source
        assert "68_face_landmarks" not in text, source
        assert "sys.exit" not in text and "quit(" not in text, source


@pytest.fixture
def forget_models() -> Iterator[None]:
    """Drop the loaded models for one test; the next use loads them again."""
    engine_mod._reset_for_tests()
    yield None
    engine_mod._reset_for_tests()


@pytest.mark.usefixtures("forget_models")
def test_missing_models_package_gives_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "_models_package_dir", lambda: None)
    engine = FaceEngine()
    try:
        with pytest.raises(EngineUnavailable) as info:
            engine.detect(np.zeros((50, 50, 3), dtype=np.uint8))
    except SystemExit:  # pragma: no cover - the point of the test
        pytest.fail("the engine tried to exit the process")
    message = str(info.value)
    assert "face_recognition_models" in message
    assert "not installed" in message
    assert "uv sync" in message and "pip install face-recognition-models" in message
    assert "\n" not in message


@pytest.mark.usefixtures("forget_models")
def test_missing_model_files_name_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    monkeypatch.setattr(engine_mod, "_models_package_dir", lambda: tmp_path)
    with pytest.raises(EngineUnavailable) as info:
        scan_image(DATA / "unknown" / "kit_with_rose.jpg")
    message = str(info.value)
    assert "shape_predictor_5_face_landmarks.dat" in message
    assert "dlib_face_recognition_resnet_model_v1.dat" in message
    assert "uv sync" in message
    # Once the files are back, the same process recovers (nothing was cached as broken).
    monkeypatch.undo()
    assert len(FaceEngine().detect(load_upright(DATA / "unknown" / "kit_with_rose.jpg").rgb)) == 2


@pytest.mark.usefixtures("forget_models")
def test_unreadable_model_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "shape_predictor_5_face_landmarks.dat").write_bytes(b"not a model")
    (models / "dlib_face_recognition_resnet_model_v1.dat").write_bytes(b"not a model")
    monkeypatch.setattr(engine_mod, "_models_package_dir", lambda: tmp_path)
    with pytest.raises(EngineUnavailable, match="could not be read"):
        FaceEngine().load()
