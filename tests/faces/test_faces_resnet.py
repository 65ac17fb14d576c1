"""dlib's face encoder on numpy: the same network as dlib's, a clear fallback when it cannot load."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from consentcam.faces import FaceEngine, Matcher, load_upright, locate_models, resnet, scan_image
from consentcam.faces import engine as engine_mod

from .helpers import DATA, import_face_recognition

#: Largest difference per value allowed between our encodings and dlib's (measured: 5e-7; the
#: values are up to about 0.5 and two different people are 0.6 or more apart).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def real_chips(engine: FaceEngine, labelled_scans: dict[str, Any]) -> np.ndarray:
    """dlib's aligned chips of every face found in the labelled test photos (16 faces),
    at the boxes of their scan (made once for all the engine's tests)."""
    chips = []
    for rel, scan in sorted(labelled_scans.items()):
        boxes = [face.box for face in scan.faces]
        if boxes:
            chips.append(engine.chips(load_upright(DATA / rel).rgb, boxes))
    out = np.concatenate(chips)
    assert len(out) >= 15
    return out


def _dlib_encodings(chips: np.ndarray) -> np.ndarray:
    models = engine_mod._load_models()
    return np.array([models.encoder.compute_face_descriptor(chip, 1) for chip in chips])


def test_the_network_encodes_real_faces_as_dlib_does(real_chips: np.ndarray) -> None:
    net = resnet.load_network(locate_models().encoder)
    ours = net.encode(real_chips)
    theirs = _dlib_encodings(real_chips)
    assert ours.shape == theirs.shape == (len(real_chips), 128)
    assert ours.dtype == np.float64
    assert np.abs(ours - theirs).max() < TOLERANCE
    # Distances between every pair of faces, and so every match decision, are unchanged.
    ours_d = np.linalg.norm(ours[:, None] - ours[None], axis=-1)
    theirs_d = np.linalg.norm(theirs[:, None] - theirs[None], axis=-1)
    assert np.abs(ours_d - theirs_d).max() < TOLERANCE
    assert np.array_equal(ours_d <= 0.5, theirs_d <= 0.5)
    # One face alone or in a batch of any size: the same encoding.
    one_by_one = np.stack([net.encode(real_chips[i : i + 1])[0] for i in range(5)])
    assert np.abs(one_by_one - ours[:5]).max() < TOLERANCE


def test_the_engine_encodes_with_the_network(engine: FaceEngine) -> None:
    assert engine_mod._load_models().net is not None
    fr = import_face_recognition()
    rgb = load_upright(DATA / "unknown" / "obama_and_biden.jpg").rgb
    boxes = engine.detect(rgb, 1)
    reference = fr.face_encodings(rgb, [(t, r, b, left) for left, t, r, b in boxes], model="small")
    assert np.abs(engine.encode(rgb, boxes) - np.array(reference)).max() < TOLERANCE
    # Jittered encodings (random by design) are dlib's own.
    assert engine.encode(rgb, boxes[:1], num_jitters=2).shape == (1, 128)
    assert engine.encode_chips(np.zeros((0, 150, 150, 3), dtype=np.uint8)).shape == (0, 128)


def test_a_reference_photo_still_matches_the_same_person(engine: FaceEngine) -> None:
    reference = scan_image(DATA / "known" / "obama" / "obama1.jpg", engine=engine).faces
    biden = scan_image(DATA / "known" / "biden" / "biden1.jpg", engine=engine).faces
    assert len(reference) == len(biden) == 1
    matcher = Matcher(np.stack([reference[0].encoding, biden[0].encoding]), [1, 2])
    photo = scan_image(DATA / "unknown" / "obama_and_biden.jpg", engine=engine)
    people = {m.person_id for m in matcher.match_many(np.stack([f.encoding for f in photo.faces]))}
    assert {1, 2} <= people


@pytest.fixture
def forget_models() -> Iterator[None]:
    engine_mod._reset_for_tests()
    yield None
    engine_mod._reset_for_tests()


def _unreadable(path: Path) -> resnet.FaceNet:
    raise resnet.ModelFormatError("unexpected layer 'con_7'")


def _slightly_off(path: Path) -> resnet.FaceNet:
    net = resnet.load_network(path)
    net._fc = net._fc * np.float32(1.01)  # a network that is not quite dlib's
    return net


@pytest.mark.usefixtures("forget_models")
@pytest.mark.parametrize(
    ("loader", "reason"), [(_unreadable, "con_7"), (_slightly_off, "away from dlib")]
)
def test_a_network_that_cannot_be_used_falls_back_to_dlib_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    real_chips: np.ndarray,
    loader: object,
    reason: str,
) -> None:
    monkeypatch.setattr(engine_mod, "load_network", loader)
    with caplog.at_level(logging.WARNING, logger="consentcam.faces.engine"):
        engine = FaceEngine()
        engine.load()
    assert engine_mod._load_models().net is None
    assert "dlib's own" in caplog.text and reason in caplog.text
    assert np.array_equal(engine.encode_chips(real_chips[:3]), _dlib_encodings(real_chips[:3]))


def test_damaged_network_files_are_refused() -> None:
    data = locate_models().encoder.read_bytes()
    resnet.parse_network(data)  # the real file reads
    for damaged, reason in [
        (data[: len(data) // 2], "ends early"),
        (data + b"\x00", "after the network"),
        (b"\x01\x01\x01\x06not_it", "not dlib's metric-learning network"),
        (data.replace(b"\x07affine_", b"\x07affinx_", 1), "unexpected layer"),
    ]:
        with pytest.raises(resnet.ModelFormatError, match=reason):
            resnet.parse_network(damaged)


def test_the_network_refuses_other_inputs(real_chips: np.ndarray) -> None:
    net = resnet.load_network(locate_models().encoder)
    with pytest.raises(ValueError, match="150, 150, 3"):
        net.encode(real_chips[:, :100])
    with pytest.raises(ValueError, match="150, 150, 3"):
        net.encode(real_chips.astype(np.float32))
