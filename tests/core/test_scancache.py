"""The suite's remembered scans: a second scan of the same bytes, in this process or another of
the run, is answered from the first; a failed scan is never remembered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consentcam.faces import pipeline
from consentcam.faces.decode import ImageRejected
from tests import scancache


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """A stand-in engine that counts its scans, and a run folder of this test's own."""
    calls: list[Any] = []

    def scan(source: Any, settings: Any = None, **_: Any) -> pipeline.ScanResult:
        calls.append(source)
        if source == b"broken":
            raise ImageRejected("not a supported image")
        return pipeline.ScanResult(640, 480, "JPEG", [], 0.25)

    monkeypatch.setattr(scancache, "_original", scan)
    monkeypatch.setattr(scancache, "_results", {})
    monkeypatch.setattr(scancache, "_wanted", True)
    monkeypatch.setattr(scancache, "enabled", True)
    monkeypatch.setattr(scancache, "_shared", None)
    scancache.share(tmp_path / "scans")
    (tmp_path / "scans").mkdir()
    return calls


def test_another_process_reads_the_answer_instead_of_scanning(
    scans: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = scancache.scan_image(b"photo bytes")
    # Another process of the run: nothing in its memory, the same run folder.
    monkeypatch.setattr(scancache, "_results", {})
    second = scancache.scan_image(b"photo bytes")
    assert scans == [b"photo bytes"]
    assert second == first and second is not first
    # Other settings are another question: scanned again.
    scancache.scan_image(b"photo bytes", pipeline.ScanSettings(plan="hog"))
    assert len(scans) == 2


def test_a_failed_scan_is_not_remembered(scans: list[Any], tmp_path: Path) -> None:
    for _ in range(2):
        with pytest.raises(ImageRejected):
            scancache.scan_image(b"broken")
    assert scans == [b"broken", b"broken"]
    assert list((tmp_path / "scans").glob("*.pickle")) == []
