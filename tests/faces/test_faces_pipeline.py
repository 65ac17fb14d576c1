"""Scanning real photos: every labelled face found and recognised, orientation, reduced resolution."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image

from consentcam.faces import (
    DetectedFace,
    FaceEngine,
    ImageRejected,
    Matcher,
    ScanResult,
    ScanSettings,
    load_upright,
    scan_image,
)

from .helpers import DATA, Box, best_iou, group_frame, import_face_recognition
from .test_faces_decode import oriented_copy


def test_every_labelled_face_is_found(
    labels: dict[str, list[dict[str, Any]]], labelled_scans: dict[str, ScanResult]
) -> None:
    checked = 0
    for rel, people in labels.items():
        result = labelled_scans[rel]
        with Image.open(DATA / rel) as im:
            assert (result.width, result.height) == im.size, rel
        boxes = [f.box for f in result.faces]
        for person in people:
            score, _ = best_iou(tuple(person["box"]), boxes)
            assert score >= 0.5, f"{rel}: {person['person']} not found (best IoU {score:.2f})"
            checked += 1
        for box in boxes:
            left, top, right, bottom = box
            assert 0 <= left < right <= result.width and 0 <= top < bottom <= result.height
    assert checked == sum(len(p) for p in labels.values())


def test_scan_results_are_well_formed(labelled_scans: dict[str, ScanResult]) -> None:
    for rel, result in labelled_scans.items():
        assert result.seconds > 0
        assert result.format in ("JPEG", "PNG"), rel
        for face in result.faces:
            assert face.encoding.shape == (128,) and face.encoding.dtype == np.float64
            assert np.isfinite(face.encoding).all()
            assert face.sharpness >= 0
            assert all(isinstance(v, int) for v in face.box)


def test_known_people_are_recognised_and_unknown_people_are_not(
    labels: dict[str, list[dict[str, Any]]],
    labelled_scans: dict[str, ScanResult],
    known_matcher: Matcher,
    known_people: list[str],
) -> None:
    assert known_matcher.person_count == len(known_people) == 5
    for rel, people in labels.items():
        result = labelled_scans[rel]
        boxes = [f.box for f in result.faces]
        for person in people:
            _, index = best_iou(tuple(person["box"]), boxes)
            match = known_matcher.match(result.faces[index].encoding)
            if person["person"] == "unknown":
                assert match.person_id is None, f"{rel}: unknown person matched {match}"
                assert match.distance is not None and match.distance > 0.5
            else:
                expected = known_people.index(person["person"])
                assert match.person_id == expected, f"{rel}: {person['person']} got {match}"
                assert match.gap is not None and match.gap > 0


def _check_orientations(
    upright: Image.Image, settings: ScanSettings, engine: FaceEngine, tolerance: int
) -> None:
    results = [scan_image(oriented_copy(upright, o), settings, engine=engine) for o in range(1, 9)]
    first = results[0]
    assert len(first.faces) == 2
    for orientation, result in enumerate(results, start=1):
        assert (result.width, result.height) == upright.size, orientation
        assert len(result.faces) == len(first.faces), orientation
        for face in first.faces:

            def distance(f: DetectedFace, b: tuple[int, int, int, int] = face.box) -> int:
                return max(abs(x - y) for x, y in zip(f.box, b, strict=True))

            match = min(result.faces, key=distance)
            shift = max(abs(x - y) for x, y in zip(match.box, face.box, strict=True))
            assert shift <= tolerance, f"orientation {orientation}: {match.box} vs {face.box}"
            assert float(np.linalg.norm(match.encoding - face.encoding)) < 0.1


def _two_people() -> Image.Image:
    # Cropped to multiples of 16 so the JPEG block grid is the same in every orientation.
    # (Kit Harington's box in kit_with_rose.jpg jumps a HOG pyramid level on +-3 grey levels of
    # noise, so that photo cannot tell an orientation bug from detector noise.)
    with Image.open(DATA / "unknown" / "two_people.jpg") as im:
        upright = im.convert("RGB")
    return upright.crop((0, 0, upright.width // 16 * 16, upright.height // 16 * 16))


def test_every_orientation_gives_the_same_upright_faces(engine: FaceEngine) -> None:
    upright = _two_people()
    _check_orientations(upright, ScanSettings(), engine, tolerance=2)


def test_every_orientation_on_the_reduced_resolution_path(engine: FaceEngine) -> None:
    upright = _two_people()
    big = upright.resize((upright.width * 2, upright.height * 2), Image.Resampling.BICUBIC)
    # detect_side half the long side: JPEG draft at 1/2, then rotate, then detect.
    settings = ScanSettings(detect_side=max(big.size) // 2)
    _check_orientations(big, settings, engine, tolerance=2 * 2)


def test_heic_photo_is_scanned(engine: FaceEngine, tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(DATA / "unknown" / "two_people.jpg") as im:
        upright = im.convert("RGB")
    path = tmp_path / "IMG_0001.HEIC"
    upright.save(path, format="HEIF", quality=90)
    heic = scan_image(path, engine=engine)
    jpeg = scan_image(DATA / "unknown" / "two_people.jpg", engine=engine)
    assert heic.format == "HEIC" and (heic.width, heic.height) == upright.size
    assert len(heic.faces) == len(jpeg.faces) == 2
    for face in jpeg.faces:
        score, i = best_iou(face.box, [f.box for f in heic.faces])
        assert score > 0.8
        assert float(np.linalg.norm(heic.faces[i].encoding - face.encoding)) < 0.1


def test_rejected_file_propagates_with_its_name(engine: FaceEngine) -> None:
    with pytest.raises(ImageRejected, match=r"^upload\.jpg: not a supported image"):
        scan_image(b"hello world", engine=engine, name="upload.jpg")


def test_blur_hint_flags_a_blurred_face(engine: FaceEngine) -> None:
    from PIL import ImageFilter

    with Image.open(DATA / "unknown" / "obama1.jpg") as im:
        sharp_im = im.convert("RGB")
    blurred_im = sharp_im.filter(ImageFilter.GaussianBlur(6))
    sharp = scan_image(_jpeg(sharp_im), engine=engine).faces
    blurred = scan_image(_jpeg(blurred_im), engine=engine).faces
    assert sharp and blurred
    assert not sharp[0].blurry
    assert blurred[0].blurry
    assert blurred[0].sharpness < sharp[0].sharpness / 4


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_group_photo_upscaled_to_phone_size_finds_every_face(engine: FaceEngine) -> None:
    frame, placed = group_frame(seed=1)
    native = scan_image(_png(frame), engine=engine)
    factor = 8
    big = frame.resize((frame.width * factor, frame.height * factor), Image.Resampling.BICUBIC)
    phone = scan_image(_jpeg(big), engine=engine)
    assert (phone.width, phone.height) == big.size
    assert len(placed) == 12
    for faces in (native.faces, phone.faces):
        # Every placed face is found once, and nothing else is.
        assert len(faces) == len(placed)
    for box in placed:
        assert best_iou(box, [f.box for f in native.faces])[0] >= 0.4
        scaled = cast(Box, tuple(v * factor for v in box))
        assert best_iou(scaled, [f.box for f in phone.faces])[0] >= 0.4


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _naive_boxes(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    fr = import_face_recognition()
    locations = fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
    return [(left, top, right, bottom) for top, right, bottom, left in locations]


@pytest.mark.slow
def test_reduced_resolution_finds_the_same_faces_as_naive_full_resolution(
    engine: FaceEngine, known_matcher: Matcher, known_people: list[str]
) -> None:
    with Image.open(DATA / "unknown" / "obama_and_biden.jpg") as im:
        upright = im.convert("RGB")
    big = upright.resize((4000, round(upright.height * 4000 / upright.width)))  # ~11.4 MP
    data = _jpeg(big)
    ours = scan_image(data, engine=engine)
    naive = _naive_boxes(load_upright(data).rgb)
    assert len(naive) == 3
    assert len(ours.faces) == len(naive)
    for box in naive:
        score, i = best_iou(box, [f.box for f in ours.faces])
        assert score >= 0.5, (box, ours.faces[i].box)
    # The reduced path still recognises the people.
    names = {
        known_people[m.person_id]
        for m in known_matcher.match_many(np.stack([f.encoding for f in ours.faces]))
        if m.person_id is not None
    }
    assert names == {"obama", "biden"}


@pytest.mark.slow
def test_group_photo_reduced_resolution_matches_naive(engine: FaceEngine) -> None:
    frame, _ = group_frame(seed=2)
    big = frame.resize((4000, 3000), Image.Resampling.BICUBIC)
    data = _jpeg(big)
    ours = [f.box for f in scan_image(data, engine=engine).faces]
    naive = _naive_boxes(load_upright(data).rgb)
    assert len(naive) == 12
    assert len(ours) == len(naive)
    for box in naive:
        assert best_iou(box, ours)[0] >= 0.5
    assert all(best_iou(box, naive)[0] >= 0.5 for box in ours)  # no extra detections


def test_small_photo_takes_exactly_the_naive_path(engine: FaceEngine) -> None:
    rel = "unknown/two_people.jpg"
    result = scan_image(DATA / rel, engine=engine)
    rgb = load_upright(DATA / rel).rgb
    assert sorted(f.box for f in result.faces) == sorted(_naive_boxes(rgb))
    fr = import_face_recognition()
    for face in result.faces:
        left, top, right, bottom = face.box
        ref = fr.face_encodings(rgb, [(top, right, bottom, left)], model="small")[0]
        assert np.abs(face.encoding - ref).max() <= 1e-6
