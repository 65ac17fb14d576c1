"""Benchmark inputs built at run time from the real test photos (cached in bench/.cache)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageFilter

ROOT: Final = Path(__file__).resolve().parent.parent
FACES: Final = ROOT / "tests" / "data" / "faces"
CACHE: Final = Path(__file__).resolve().parent / ".cache"
#: Bump when the way inputs are made changes, so stale cached files are not reused.
VERSION: Final = 2
JPEG_QUALITY: Final = 92

Box = tuple[float, float, float, float]

#: The five enrolled people and their reference photos (tests/data/faces/known/<person>/).
PEOPLE: Final = ("alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie")


@dataclass(frozen=True)
class Photo:
    """A generated input: the file, its upright size and the true face boxes (upright pixels)."""

    path: Path
    width: int
    height: int
    truth: list[Box]


def cache_dir() -> Path:
    path = CACHE / f"v{VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def labels() -> dict[str, list[dict[str, object]]]:
    data = json.loads((FACES / "LABELS.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _label_box(face: dict[str, object]) -> Box:
    """A labelled face's box, (left, top, right, bottom)."""
    values = face["box"]
    assert isinstance(values, list) and len(values) == 4, face
    left, top, right, bottom = (float(v) for v in values)
    return left, top, right, bottom


def _label_boxes(rel: str) -> list[Box]:
    return [_label_box(f) for f in labels()[rel]]


def _save_jpeg(im: Image.Image, path: Path, orientation: int = 1) -> None:
    tmp = path.with_suffix(".tmp")
    kwargs: dict[str, object] = {"quality": JPEG_QUALITY, "subsampling": 2}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    im.save(tmp, format="JPEG", **kwargs)
    tmp.replace(path)


def upscale(rel: str, megapixels: float) -> Photo:
    """A real photo upscaled (LANCZOS) to about ``megapixels``, like a phone camera's JPEG."""
    with Image.open(FACES / rel) as src:
        im = src.convert("RGB")
    k = math.sqrt(megapixels * 1e6 / (im.width * im.height))
    size = (round(im.width * k), round(im.height * k))
    path = cache_dir() / f"{Path(rel).stem}_{megapixels:g}mp.jpg"
    if not path.exists():
        _save_jpeg(im.resize(size, Image.Resampling.LANCZOS), path)
    truth = [(b[0] * k, b[1] * k, b[2] * k, b[3] * k) for b in _label_boxes(rel)]
    return Photo(path, size[0], size[1], truth)


def rotated(photo: Photo, orientation: int) -> Photo:
    """A copy whose stored pixels are turned so that EXIF ``orientation`` (6 or 8) makes it upright."""
    if orientation not in (6, 8):
        raise ValueError("orientation must be 6 or 8")
    path = photo.path.with_name(f"{photo.path.stem}_exif{orientation}.jpg")
    if not path.exists():
        with Image.open(photo.path) as src:
            upright = src.convert("RGB")
        # Orientation 6 is undone by a 270 degree turn, so the stored pixels are turned 90 (and
        # vice versa for 8).
        turn = Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
        _save_jpeg(upright.transpose(turn), path, orientation)
    return Photo(path, photo.width, photo.height, photo.truth)


def _face_crops() -> list[tuple[Image.Image, float, float]]:
    """Every labelled face (not the edge cases) with a margin: (crop, face left, face width)."""
    crops = []
    for rel, faces in labels().items():
        if rel.startswith("edge/"):
            continue
        with Image.open(FACES / rel) as src:
            im = src.convert("RGB")
        for face in faces:
            left, top, right, bottom = _label_box(face)
            width = right - left
            margin = width * 0.45
            box = (left - margin, top - margin, right + margin, bottom + margin)
            crops.append(
                (
                    im.crop((round(box[0]), round(box[1]), round(box[2]), round(box[3]))),
                    margin,
                    width,
                )
            )
    return crops


def _background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A soft, textured background (a wall and floor out of focus) with no faces in it."""
    w, h = size
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    top = rng.uniform(90, 200, 3)
    bottom = rng.uniform(40, 140, 3)
    base = top * (1 - y) + bottom * y + 20 * np.sin(6 * x + rng.uniform(0, 6))
    noise = rng.normal(0, 12, (h, w, 3))
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").filter(ImageFilter.GaussianBlur(2))


def group_frame(
    seed: int,
    frame: tuple[int, int] = (500, 350),
    faces: int = 14,
    face_px: tuple[int, int] = (35, 60),
) -> tuple[Image.Image, list[Box]]:
    """Real faces 35-60 px wide pasted at random non-overlapping places on a 500x350 frame."""
    rng = np.random.default_rng(seed)
    crops = _face_crops()
    canvas = _background(frame, rng)
    placed: list[Box] = []  # whole pasted crops, to keep them apart
    boxes: list[Box] = []
    order = rng.permutation(len(crops)).tolist()
    attempts = 0
    while len(boxes) < faces and attempts < 5000:
        attempts += 1
        crop, margin, width = crops[order[len(boxes) % len(order)]]
        face_w = int(rng.integers(face_px[0], face_px[1] + 1))
        k = face_w / width
        small_size = (max(1, round(crop.width * k)), max(1, round(crop.height * k)))
        if small_size[0] >= frame[0] or small_size[1] >= frame[1]:
            continue
        x = int(rng.integers(0, frame[0] - small_size[0]))
        y = int(rng.integers(0, frame[1] - small_size[1]))
        rect = (x, y, x + small_size[0], y + small_size[1])
        if any(
            rect[0] < p[2] and p[0] < rect[2] and rect[1] < p[3] and p[1] < rect[3] for p in placed
        ):
            continue
        canvas.paste(crop.resize(small_size, Image.Resampling.LANCZOS), (x, y))
        placed.append(rect)
        boxes.append(
            (x + margin * k, y + margin * k, x + margin * k + face_w, y + margin * k + face_w)
        )
    return canvas, boxes


def group_photo(seed: int, megapixels: float) -> Photo:
    """A group photo (see group_frame) upscaled to phone size."""
    frame, boxes = group_frame(seed)
    k = math.sqrt(megapixels * 1e6 / (frame.width * frame.height))
    size = (round(frame.width * k), round(frame.height * k))
    path = cache_dir() / f"group{seed}_{megapixels:g}mp.jpg"
    if not path.exists():
        _save_jpeg(frame.resize(size, Image.Resampling.LANCZOS), path)
    truth = [(b[0] * k, b[1] * k, b[2] * k, b[3] * k) for b in boxes]
    return Photo(path, size[0], size[1], truth)


def modest_photos(count: int, long_side: tuple[int, int] = (1200, 1600)) -> list[Path]:
    """``count`` distinct 1-2 MP JPEGs made from the real photos (distinct bytes for each)."""
    sources = sorted(p for p in (FACES / "unknown").iterdir() if p.suffix in (".jpg", ".png"))
    sources += sorted((FACES / "known").glob("*/*.jpg"))
    folder = cache_dir() / "modest"
    folder.mkdir(exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"photo{i:04d}.jpg"
        if not path.exists():
            src_path = sources[i % len(sources)]
            with Image.open(src_path) as src:
                im = src.convert("RGB")
            # Sizes vary with i so every file is different (storage is content-addressed).
            side = long_side[0] + (i * 37) % (long_side[1] - long_side[0])
            k = side / max(im.size)
            _save_jpeg(
                im.resize((round(im.width * k), round(im.height * k)), Image.Resampling.LANCZOS),
                path,
            )
        out.append(path)
    return out


def reference_photos() -> dict[str, list[Path]]:
    """Each enrolled person's reference photos."""
    return {p: sorted((FACES / "known" / p).glob("*.jpg")) for p in PEOPLE}


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def pair_up(found: list[Box], truth: list[Box], threshold: float = 0.3) -> tuple[int, int]:
    """Greedy one-to-one IoU pairing: (boxes in ``truth`` found, boxes in ``found`` matching none)."""
    pairs = sorted(
        ((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i in used_f or j in used_t:
            continue
        used_f.add(i)
        used_t.add(j)
    return len(used_t), len(found) - len(used_f)
