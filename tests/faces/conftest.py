"""Shared fixtures for the face package tests: real photos, one scan per photo per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from consentcam.faces import FaceEngine, Matcher, ScanResult, get_engine, scan_image

from .helpers import DATA


@pytest.fixture(scope="session")
def labels() -> dict[str, list[dict[str, Any]]]:
    raw = json.loads((DATA / "LABELS.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    eng = get_engine()
    eng.load()
    return eng


@pytest.fixture(scope="session")
def labelled_scans(
    labels: dict[str, list[dict[str, Any]]], engine: FaceEngine
) -> dict[str, ScanResult]:
    """Every labelled photo (unknown/ and edge/) scanned once with default settings."""
    return {rel: scan_image(DATA / rel, engine=engine) for rel in labels}


@pytest.fixture(scope="session")
def known_people() -> list[str]:
    return sorted(p.name for p in (DATA / "known").iterdir() if p.is_dir())


@pytest.fixture(scope="session")
def known_matcher(known_people: list[str], engine: FaceEngine) -> Iterator[Matcher]:
    """One matcher enrolled from every reference photo under known/ (person id = index)."""
    templates: list[np.ndarray] = []
    ids: list[int] = []
    for pid, person in enumerate(known_people):
        for photo in sorted((DATA / "known" / person).iterdir()):
            result = scan_image(photo, engine=engine)
            assert result.faces, f"no face found in reference photo {photo.name}"
            # A reference photo shows one person; take the largest face.
            face = max(result.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            templates.append(face.encoding)
            ids.append(pid)
    yield Matcher(np.array(templates), ids)
