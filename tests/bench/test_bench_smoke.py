"""The benchmark harness still runs: one small case in quick mode, checked for structure only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_scan_case_runs_and_finds_the_baselines_faces(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    markdown = tmp_path / "table.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "scan12",
            "--output",
            str(output),
            "--markdown",
            str(markdown),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(output.read_text())
    assert report["quick"] is True
    assert report["cases"] == ["scan12"]
    assert report["errors"] == {}
    assert report["machine"]["cores"] >= 1
    assert {"cpu", "python", "numpy", "dlib"} <= set(report["machine"])
    rows = report["rows"]
    assert rows, "the case produced no rows"
    for row in rows:
        assert {"case", "ours", "baseline", "ratio", "target", "met"} <= set(row)
    timing = next(r for r in rows if "decode to matched faces" in r["case"])
    assert timing["details"]["ours_seconds"] and timing["details"]["baseline_seconds"]
    faces = next(r for r in rows if "faces found" in r["case"])
    details = faces["details"]
    # Ours and the baseline found the same faces: every box of one pairs with a box of the other.
    assert len(details["baseline_boxes"]) >= 1
    assert details["iou_matched_with_baseline"] == len(details["baseline_boxes"])
    assert details["ours_not_in_baseline"] == 0
    # ... and named the same enrolled people for them.
    assert sorted(p for p in details["ours_people"] if p) == sorted(
        p for p in details["baseline_people"] if p
    )
    table = markdown.read_text()
    assert "| case | ours | baseline | ratio | target | met? |" in table
    assert proc.stdout.count("\n") >= len(rows) + 2  # header lines and one line per row


def test_every_case_is_registered_once_and_listed() -> None:
    from bench.cases import CASES
    from bench.run import load_cases, main

    load_cases()
    assert {"scan12", "exif", "group", "scan46", "queue", "match"} <= set(CASES)
    assert main(["--list"]) == 0
    assert main(["--only", "no-such-case"]) == 2
