"""dlib face detection and 128-d encoding, with lazily loaded, commercially usable models."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consentcam.faces.resnet import CHIP_SIDE, FaceNet, ModelFormatError, load_network

__all__ = [
    "Box",
    "EngineUnavailable",
    "FaceEngine",
    "ModelFiles",
    "get_engine",
    "locate_models",
]

#: A face box as (left, top, right, bottom) in pixels of the image it refers to.
Box = tuple[int, int, int, int]

MODELS_PACKAGE: Final = "face_recognition_models"
# Only the 5-point landmark model: the 68-point model's training data forbids commercial use.
SHAPE_PREDICTOR_FILE: Final = "shape_predictor_5_face_landmarks.dat"
ENCODER_FILE: Final = "dlib_face_recognition_resnet_model_v1.dat"
_INSTALL_HINT: Final = (
    "install it with `uv sync` (or `pip install face-recognition-models dlib-bin`)"
)
#: Padding around the face in dlib's aligned chip (face_recognition's and dlib's default).
CHIP_PADDING: Final = 0.25

logger = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """The face engine cannot run: dlib or the model files are missing."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Paths of the two dlib model files we use."""

    shape_predictor: Path
    encoder: Path


def _models_package_dir() -> Path | None:
    """Directory of the face_recognition_models package, found without importing it.

    (Its __init__ imports pkg_resources, which newer setuptools no longer ships.)
    """
    try:
        spec = importlib.util.find_spec(MODELS_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or ():
        return Path(location)
    if spec.origin:
        return Path(spec.origin).parent
    return None


def locate_models() -> ModelFiles:
    """Find the model files, or raise EngineUnavailable saying what is missing and how to fix it."""
    package_dir = _models_package_dir()
    if package_dir is None:
        raise EngineUnavailable(
            f"Face recognition is unavailable: the Python package '{MODELS_PACKAGE}' "
            f"is not installed; {_INSTALL_HINT}."
        )
    files = ModelFiles(
        shape_predictor=package_dir / "models" / SHAPE_PREDICTOR_FILE,
        encoder=package_dir / "models" / ENCODER_FILE,
    )
    missing = [str(p) for p in (files.shape_predictor, files.encoder) if not p.is_file()]
    if missing:
        raise EngineUnavailable(
            "Face recognition is unavailable: model file(s) missing: "
            + ", ".join(missing)
            + f"; reinstall the '{MODELS_PACKAGE}' package ({_INSTALL_HINT})."
        )
    return files


@dataclass(frozen=True, slots=True)
class _Models:
    detector: Any
    shape_predictor: Any
    encoder: Any
    rectangle: Any
    face_chip: Any
    #: dlib's encoder network run on numpy; None when its file could not be read that way.
    net: FaceNet | None


_load_lock = threading.Lock()
_call_lock = threading.Lock()
_models: _Models | None = None


def _load_models() -> _Models:
    """Load dlib and the models once per process (thread-safe, on first use)."""
    global _models
    if _models is not None:
        return _models
    with _load_lock:
        if _models is None:
            files = locate_models()
            try:
                import dlib  # type: ignore[import-untyped,unused-ignore]
            except ImportError as exc:
                raise EngineUnavailable(
                    f"Face recognition is unavailable: dlib cannot be imported ({exc}); "
                    f"{_INSTALL_HINT}."
                ) from None
            try:
                detector = dlib.get_frontal_face_detector()
                shape_predictor = dlib.shape_predictor(str(files.shape_predictor))
                encoder = dlib.face_recognition_model_v1(str(files.encoder))
            except RuntimeError as exc:
                raise EngineUnavailable(
                    f"Face recognition is unavailable: a model file could not be read ({exc}); "
                    f"reinstall the '{MODELS_PACKAGE}' package ({_INSTALL_HINT})."
                ) from None
            _models = _Models(
                detector,
                shape_predictor,
                encoder,
                dlib.rectangle,
                dlib.get_face_chip,
                _load_net(files.encoder, encoder),
            )
    return _models


#: Largest difference per value allowed between the numpy network and dlib's encoder on the
#: probe chip at load (they agree to about 1e-6).
NET_TOLERANCE: Final = 1e-4


def _probe_chip() -> npt.NDArray[np.uint8]:
    """A fixed 150 px colour pattern that every weight of the network has a say in."""
    y, x = np.mgrid[0:CHIP_SIDE, 0:CHIP_SIDE]
    channels = [(x * 7 + y * 3) % 256, (x * y) % 251, (255 - 2 * y + x) % 256]
    return np.ascontiguousarray(np.stack(channels, axis=-1).astype(np.uint8))


def _load_net(path: Path, encoder: Any) -> FaceNet | None:
    """dlib's encoder network for numpy, or None (dlib's own, slower, encoder is then used).

    Before it is used, it must encode a probe chip as dlib's own encoder does.
    """
    try:
        net = load_network(path)
        probe = _probe_chip()
        ours = net.encode(probe[None])[0]
        theirs = np.asarray(encoder.compute_face_descriptor(probe, 1), dtype=np.float64)
        difference = float(np.abs(ours - theirs).max())
        if not difference <= NET_TOLERANCE:
            raise ModelFormatError(f"it encodes a probe {difference:.1e} away from dlib")
    except Exception as exc:  # whatever the reason, dlib's own encoder still works
        logger.warning(
            "Face encodings fall back to dlib's own, slower, encoder: %s could not be read "
            "as its network (%s).",
            path,
            exc,
        )
        return None
    return net


def _reset_for_tests() -> None:
    """Forget loaded models (tests use this to exercise the loading path)."""
    global _models
    with _load_lock:
        _models = None


def _check_rgb(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 RGB array, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


class FaceEngine:
    """HOG face detector + 5-point landmarks + ResNet encoder (the face_recognition 'small' path).

    All instances share one set of models per process. dlib's objects are not documented as
    thread-safe, so calls into them are serialised with a lock.
    """

    def load(self) -> None:
        """Load the models now (otherwise they load on first use)."""
        _load_models()

    def detect(self, rgb: npt.NDArray[np.uint8], upsample: int = 1) -> list[Box]:
        """Face boxes (left, top, right, bottom), clipped to the image, for an RGB array."""
        models = _load_models()
        image = _check_rgb(rgb)
        height, width = image.shape[:2]
        with _call_lock:
            rects = models.detector(image, int(upsample))
        boxes: list[Box] = []
        for rect in rects:
            boxes.append(
                (
                    max(int(rect.left()), 0),
                    max(int(rect.top()), 0),
                    min(int(rect.right()), width),
                    min(int(rect.bottom()), height),
                )
            )
        return boxes

    def detect_scored(
        self, rgb: npt.NDArray[np.uint8], upsample: int = 0, adjust_threshold: float = 0.0
    ) -> list[tuple[Box, float]]:
        """HOG boxes with their detection scores, down to ``adjust_threshold`` (0 is dlib's own)."""
        models = _load_models()
        image = _check_rgb(rgb)
        with _call_lock:
            rects, scores, _ = models.detector.run(image, int(upsample), float(adjust_threshold))
        return [
            ((int(r.left()), int(r.top()), int(r.right()), int(r.bottom())), float(score))
            for r, score in zip(rects, scores, strict=True)
        ]

    def encode(
        self,
        rgb: npt.NDArray[np.uint8],
        boxes: Sequence[Box],
        num_jitters: int = 1,
    ) -> npt.NDArray[np.float64]:
        """128-d encodings (k x 128, float64) of the faces at ``boxes`` in ``rgb``."""
        return self.encode_chips(self.chips(rgb, boxes), num_jitters)

    def chips(self, rgb: npt.NDArray[np.uint8], boxes: Sequence[Box]) -> npt.NDArray[np.uint8]:
        """dlib's aligned 150 px chips (k x 150 x 150 x 3) of the faces at ``boxes`` in ``rgb``.

        Each face is aligned on its 5 landmarks, exactly as dlib's compute_face_descriptor
        aligns it before encoding.
        """
        models = _load_models()
        image = _check_rgb(rgb)
        out = np.empty((len(boxes), CHIP_SIDE, CHIP_SIDE, 3), dtype=np.uint8)
        with _call_lock:
            for i, (left, top, right, bottom) in enumerate(boxes):
                rect = models.rectangle(int(left), int(top), int(right), int(bottom))
                shape = models.shape_predictor(image, rect)
                out[i] = models.face_chip(image, shape, CHIP_SIDE, CHIP_PADDING)
        return out

    def encode_chips(
        self, chips: npt.NDArray[np.uint8], num_jitters: int = 1
    ) -> npt.NDArray[np.float64]:
        """128-d encodings (k x 128, float64) of aligned chips from ``chips``.

        dlib's network, on numpy (several faces at once) when its weights could be read;
        dlib's own encoder otherwise, and for ``num_jitters`` above 1 (random jitter).
        """
        models = _load_models()
        if models.net is not None and num_jitters <= 1:
            return models.net.encode(chips)
        out = np.empty((len(chips), 128), dtype=np.float64)
        with _call_lock:
            for i, chip in enumerate(chips):
                descriptor = models.encoder.compute_face_descriptor(chip, int(num_jitters))
                out[i] = np.asarray(descriptor, dtype=np.float64)
        return out


_engine_lock = threading.Lock()
_engine: FaceEngine | None = None


def get_engine() -> FaceEngine:
    """The process-wide engine (models still load lazily, on first detect/encode)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = FaceEngine()
    return _engine
