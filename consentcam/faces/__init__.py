"""Face detection, encoding and matching for consent checks (the only user of dlib)."""

from __future__ import annotations

from consentcam.faces.decode import (
    ALLOWED_FORMATS,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    ImageInfo,
    ImageRejected,
    ImageSource,
    load_upright,
    probe,
)
from consentcam.faces.engine import Box, EngineUnavailable, FaceEngine, get_engine, locate_models
from consentcam.faces.match import DEFAULT_THRESHOLD, Match, Matcher
from consentcam.faces.pipeline import DetectedFace, ScanResult, ScanSettings, scan_image

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_THRESHOLD",
    "Box",
    "DecodedImage",
    "DetectedFace",
    "EngineUnavailable",
    "FaceEngine",
    "ImageInfo",
    "ImageRejected",
    "ImageSource",
    "Match",
    "Matcher",
    "ScanResult",
    "ScanSettings",
    "get_engine",
    "load_upright",
    "locate_models",
    "probe",
    "scan_image",
]
