"""Scenes for the detector cases: real faces, turned or small, pasted into real photos.

Every face comes from the labelled photos in tests/data/faces (and the reference photos under
known/, boxed once with dlib's HOG detector and kept in the cache). Each pasted face gets its own
lighting (brightness, contrast, colour cast) and a soft elliptical edge, so it sits in the
photo rather than on it; the photos' own faces stay where they are and count as faces too.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from bench import inputs

Box = tuple[float, float, float, float]

#: Real photos used as rooms: their own (labelled) faces stay in the scene.
BACKGROUNDS: Final = (
    "unknown/obama_and_biden.jpg",
    "unknown/two_people.jpg",
    "unknown/obama1.jpg",
    "unknown/obama-1080p.jpg",
    "unknown/alex_lacamoire1.jpg",
)
#: Version of the way scenes are made (part of the cached file names).
SCENE_VERSION: Final = 2


@dataclass(frozen=True)
class Scene:
    """A generated photo: upright size, every true face, and which of them were pasted in."""

    path: Path
    width: int
    height: int
    truth: list[Box]
    pasted: list[Box]


@dataclass(frozen=True)
class _Face:
    image: Image.Image  # the face with a margin around it
    box: Box  # the face box inside ``image``


def _known_boxes() -> dict[str, Box]:
    """HOG boxes of the reference photos (one face each), computed once and cached."""
    path = inputs.cache_dir() / "known_boxes.json"
    if path.exists():
        return {k: tuple(v) for k, v in json.loads(path.read_text()).items()}  # type: ignore[misc]
    from consentcam.faces.decode import load_upright
    from consentcam.faces.engine import get_engine

    engine = get_engine()
    out: dict[str, Box] = {}
    for photo in sorted((inputs.FACES / "known").glob("*/*.jpg")):
        decoded = load_upright(photo, max_side=1200)
        boxes = engine.detect(decoded.rgb, 1)
        if len(boxes) != 1:
            continue
        k = decoded.scale
        out[str(photo.relative_to(inputs.FACES))] = tuple(v * k for v in boxes[0])  # type: ignore[assignment]
    path.write_text(json.dumps(out))
    return out


@functools.cache
def face_pool() -> list[_Face]:
    """Every face we have a box for, cropped with a margin of 0.6 face widths on each side."""
    sources: list[tuple[str, Box]] = []
    for rel, faces in inputs.labels().items():
        if rel.startswith("edge/"):
            continue
        for face in faces:
            sources.append((rel, tuple(float(v) for v in face["box"])))  # type: ignore[attr-defined,misc]
    sources += sorted(_known_boxes().items())
    pool = []
    for rel, (left, top, right, bottom) in sources:
        with Image.open(inputs.FACES / rel) as src:
            im = src.convert("RGB")
        margin = 0.6 * (right - left)
        crop_box = (
            round(left - margin),
            round(top - margin),
            round(right + margin),
            round(bottom + margin),
        )
        crop = im.crop(crop_box)
        pool.append(
            _Face(
                crop,
                (left - crop_box[0], top - crop_box[1], right - crop_box[0], bottom - crop_box[1]),
            )
        )
    return pool


def _relight(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The same face under other light: brightness, contrast and a warm or cold cast."""
    im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.6, 1.25)))
    im = ImageEnhance.Contrast(im).enhance(float(rng.uniform(0.75, 1.2)))
    cast = np.array([rng.uniform(0.88, 1.12), 1.0, rng.uniform(0.88, 1.12)], dtype=np.float32)
    arr = np.clip(np.asarray(im, dtype=np.float32) * cast, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _soft_mask(size: tuple[int, int], box: Box) -> Image.Image:
    """An ellipse around the head (the face box grown for hair and chin), feathered."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse(
        (left - 0.35 * w, top - 0.55 * h, right + 0.35 * w, bottom + 0.35 * h), fill=255
    )
    return mask.filter(ImageFilter.GaussianBlur(max(1.0, 0.08 * w)))


def _turn(
    face: Image.Image, mask: Image.Image, box: Box, degrees: float
) -> tuple[Image.Image, Image.Image, tuple[float, float]]:
    """Turn a face crop counter-clockwise on screen; returns it, its mask and the face centre."""
    cx = (box[0] + box[2]) / 2 - face.width / 2
    cy = (box[1] + box[3]) / 2 - face.height / 2
    turned = face.rotate(degrees, Image.Resampling.BICUBIC, expand=True)
    turned_mask = mask.rotate(degrees, Image.Resampling.BICUBIC, expand=True)
    rad = math.radians(degrees)
    nx = cx * math.cos(rad) + cy * math.sin(rad)
    ny = -cx * math.sin(rad) + cy * math.cos(rad)
    return turned, turned_mask, (turned.width / 2 + nx, turned.height / 2 + ny)


def _room(rel: str, size: tuple[int, int]) -> tuple[Image.Image, list[Box]]:
    """A background photo cut and scaled to ``size`` (cover), with its faces' boxes."""
    with Image.open(inputs.FACES / rel) as src:
        im = src.convert("RGB")
    k = max(size[0] / im.width, size[1] / im.height)
    scaled = (math.ceil(im.width * k), math.ceil(im.height * k))
    ox, oy = (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2
    room = im.resize(scaled, Image.Resampling.LANCZOS).crop((ox, oy, ox + size[0], oy + size[1]))
    faces = []
    for face in inputs.labels()[rel]:
        left, top, right, bottom = (float(v) * k for v in face["box"])  # type: ignore[attr-defined]
        box = (left - ox, top - oy, right - ox, bottom - oy)
        if box[0] >= 0 and box[1] >= 0 and box[2] <= size[0] and box[3] <= size[1]:
            faces.append(box)
    return room, faces


def _overlaps(a: Box, b: Box, pad: float) -> bool:
    return a[0] - pad < b[2] and b[0] - pad < a[2] and a[1] - pad < b[3] and b[1] - pad < a[3]


def compose(
    name: str,
    seed: int,
    size: tuple[int, int],
    count: int,
    face_px: tuple[float, float],
    degrees: tuple[float, float],
) -> Scene:
    """A real room with ``count`` real faces ``face_px`` wide, each turned within ``degrees``."""
    path = inputs.cache_dir() / f"scene{SCENE_VERSION}_{name}_{seed}.jpg"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        data = json.loads(meta.read_text())
        return Scene(
            path,
            size[0],
            size[1],
            [tuple(b) for b in data["truth"]],
            [tuple(b) for b in data["pasted"]],
        )  # type: ignore[misc]
    rng = np.random.default_rng(seed)
    pool = face_pool()
    canvas, own = _room(BACKGROUNDS[seed % len(BACKGROUNDS)], size)
    taken = [
        (
            b[0] - 0.5 * (b[2] - b[0]),
            b[1] - 0.8 * (b[3] - b[1]),
            b[2] + 0.5 * (b[2] - b[0]),
            b[3] + 0.5 * (b[3] - b[1]),
        )
        for b in own
    ]
    pasted: list[Box] = []
    order = rng.permutation(len(pool)).tolist()
    attempts = 0
    while len(pasted) < count and attempts < 3000:
        attempts += 1
        face = pool[order[len(pasted) % len(order)]]
        width = float(rng.uniform(*face_px))
        angle = float(rng.uniform(*degrees))
        # Where the face goes is drawn first; the (slow) image work only for a free spot.
        fx = float(rng.uniform(1.2 * width, size[0] - 1.2 * width))
        fy = float(rng.uniform(1.2 * width, size[1] - 1.2 * width))
        head = (fx - 1.1 * width, fy - 1.1 * width, fx + 1.1 * width, fy + 1.1 * width)
        if any(_overlaps(head, other, 0) for other in taken):
            continue
        k = width / (face.box[2] - face.box[0])
        small = face.image.resize(
            (max(1, round(face.image.width * k)), max(1, round(face.image.height * k))),
            Image.Resampling.LANCZOS,
        )
        box = (face.box[0] * k, face.box[1] * k, face.box[2] * k, face.box[3] * k)
        small = _relight(small, rng)
        turned, mask, (cx, cy) = _turn(small, _soft_mask(small.size, box), box, angle)
        x, y = round(fx - cx), round(fy - cy)
        canvas.paste(turned, (x, y), mask)
        taken.append(head)
        half = width / 2
        pasted.append((x + cx - half, y + cy - half, x + cx + half, y + cy + half))
    truth = own + pasted
    tmp = path.with_suffix(".tmp")
    canvas.save(tmp, format="JPEG", quality=inputs.JPEG_QUALITY, subsampling=2)
    tmp.replace(path)
    meta.write_text(json.dumps({"truth": truth, "pasted": pasted}))
    return Scene(path, size[0], size[1], truth, pasted)


def turned_scene(angle: float, seed: int, quick: bool) -> Scene:
    """A 3 MP room with 8 faces 5-12% of its long side, every pasted face turned ``angle``."""
    size = (1600, 1200) if quick else (2000, 1500)
    long_side = max(size)
    return compose(
        f"turned{angle:g}_{size[0]}",
        seed,
        size,
        count=8,
        face_px=(0.05 * long_side, 0.12 * long_side),
        degrees=(angle, angle),
    )


def small_scene(share: float, seed: int) -> Scene:
    """A 12 MP class photo from the back of the room: faces ``share`` of the long side, +-5%,
    tilted up to 10 degrees, as many as fit in rows of people."""
    size = (4000, 3000)
    width = share * size[0]
    count = {0.02: 30, 0.03: 26, 0.04: 22, 0.06: 14}.get(share, 16)
    return compose(
        f"small{share:g}",
        seed,
        size,
        count=count,
        face_px=(0.95 * width, 1.05 * width),
        degrees=(-10.0, 10.0),
    )
