"""Measure one scan method on one photo in a fresh process (time per run, boxes, peak memory).

Run as ``python -m bench.child METHOD IMAGE TEMPLATES.npz REPEAT``; prints one JSON object.
METHOD is ``ours`` (scan_image + Matcher.match_many), ``ours_hog`` (the same with the previous
plan, HOG alone), ``baseline`` (face_recognition with its default "large" 68-point landmarks) or
``baseline_small`` (the same with model="small"). Models are loaded before the clock starts, for
all, so only the work on the photo is timed; ``seconds`` is wall time, ``cpu_seconds`` the
process's CPU time (every thread) for the same span.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(image: str, templates: Any, repeat: int, plan: str = "combined") -> dict[str, Any]:
    from consentcam.config import DEFAULTS
    from consentcam.faces.blazeface import get_detector
    from consentcam.faces.engine import get_engine
    from consentcam.faces.match import Matcher
    from consentcam.faces.pipeline import ScanSettings, scan_image

    get_engine().load()
    get_detector().load()
    matcher = Matcher(templates["ours"], templates["ids"].tolist())
    # The settings the app scans with (DETECT_SIDE is an instance setting); `--detect-side`
    # tries another value.
    side = os.environ.get("BENCH_DETECT_SIDE") or DEFAULTS["DETECT_SIDE"]
    settings = ScanSettings(detect_side=int(side), plan=plan)  # type: ignore[arg-type]
    ready = peak_rss_mb()
    times, cpu, boxes, people = [], [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        cpu_start = time.process_time()
        result = scan_image(image, settings)
        matches = (
            matcher.match_many(np.stack([f.encoding for f in result.faces])) if result.faces else []
        )
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        boxes = [list(map(float, f.box)) for f in result.faces]
        people = [m.person_id for m in matches]
    return {
        "seconds": times,
        "cpu_seconds": cpu,
        "boxes": boxes,
        "people": people,
        "ready_rss_mb": ready,
        "detect_side": settings.detect_side,
    }


def _baseline(image: str, templates: Any, repeat: int, model: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    known = templates["baseline_small" if model == "small" else "baseline"]
    ids = templates["ids"]
    ready = peak_rss_mb()
    times, cpu, boxes, people = [], [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        cpu_start = time.process_time()
        img = face_recognition.load_image_file(image)
        locations = face_recognition.face_locations(img, number_of_times_to_upsample=1)
        encodings = face_recognition.face_encodings(img, locations, model=model)
        found = []
        for enc in encodings:
            dist = face_recognition.face_distance(known, enc)
            best = int(np.argmin(dist))
            found.append(int(ids[best]) if dist[best] <= 0.5 else None)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        del img
        boxes = [[float(left), float(t), float(r), float(b)] for (t, r, b, left) in locations]
        people = found
    return {
        "seconds": times,
        "cpu_seconds": cpu,
        "boxes": boxes,
        "people": people,
        "ready_rss_mb": ready,
    }


def _run(method: str, image: str, templates: Any, repeat: int) -> dict[str, Any]:
    if method == "ours":
        return _ours(image, templates, repeat)
    if method == "ours_hog":
        return _ours(image, templates, repeat, plan="hog")
    if method in ("baseline", "baseline_small"):
        return _baseline(
            image, templates, repeat, "small" if method == "baseline_small" else "large"
        )
    raise SystemExit(f"unknown method {method!r}")


def main(argv: list[str]) -> int:
    method, image, templates_path, repeat = argv[0], argv[1], argv[2], int(argv[3])
    templates = np.load(templates_path)
    if image.endswith(".list"):
        # Several photos in one process (one per line): {"photos": [one result per photo]}.
        photos = [line for line in Path(image).read_text().splitlines() if line.strip()]
        out: dict[str, Any] = {"photos": [_run(method, p, templates, repeat) for p in photos]}
    else:
        out = _run(method, image, templates, repeat)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
