"""Helpers for the face package tests: IoU, a synthetic group photo, the reference library."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parent.parent / "data" / "faces"
Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def best_iou(box: Box, candidates: list[Any]) -> tuple[float, int]:
    """Best IoU of ``box`` against candidate boxes, and the index of that candidate (-1: none)."""
    scores = [iou(box, tuple(c)) for c in candidates]
    if not scores:
        return 0.0, -1
    i = int(np.argmax(scores))
    return scores[i], i


def import_face_recognition() -> ModuleType:
    """The reference library, imported only by tests, with its import-time warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition

    return face_recognition


def group_frame(
    seed: int = 0,
    face_px: tuple[int, int] = (35, 60),
    frame: tuple[int, int] = (500, 375),
    cols: int = 4,
    rows: int = 3,
) -> tuple[Image.Image, list[Box]]:
    """A 'group photo': real labelled faces, each 35-60 px wide, tiled into a 500 px frame.

    Returns the frame and the (approximate) face boxes placed in it.
    """
    labels = json.loads((DATA / "LABELS.json").read_text())
    crops: list[tuple[Image.Image, int, int]] = []
    for rel, faces in labels.items():
        if rel.startswith("_") or rel.startswith("edge/"):
            continue
        with Image.open(DATA / rel) as src:
            im = src.convert("RGB")
        for face in faces:
            left, top, right, bottom = face["box"]
            width = right - left
            margin = int(width * 0.45)
            crops.append(
                (
                    im.crop((left - margin, top - margin, right + margin, bottom + margin)),
                    width,
                    margin,
                )
            )
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", frame, (120, 130, 125))
    cell_w, cell_h = frame[0] // cols, frame[1] // rows
    boxes: list[Box] = []
    for i in range(cols * rows):
        crop, width, margin = crops[i % len(crops)]
        face_w = int(rng.integers(face_px[0], face_px[1] + 1))
        k = face_w / width
        small = crop.resize(
            (max(1, round(crop.width * k)), max(1, round(crop.height * k))),
            Image.Resampling.LANCZOS,
        )
        x = (i % cols) * cell_w + (cell_w - small.width) // 2
        y = (i // cols) * cell_h + (cell_h - small.height) // 2
        canvas.paste(small, (x, y))
        boxes.append(
            (x + margin * k, y + margin * k, x + margin * k + face_w, y + margin * k + face_w)
        )
    return canvas, boxes


def jpeg_bytes(im: Image.Image, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92, **kwargs)
    return buf.getvalue()
