"""Detector cases: turned and tilted faces, small faces in 12 MP class photos, scan time.

Each is measured against the naive baseline (face_recognition at full resolution, upsample 1)
in the same run; the scan-time case compares the combined plan with the previous one (HOG
alone, ``ScanSettings(plan="hog")``) on the photos of tests/data/faces.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import inputs, scenes
from bench.cases import Context, Row, case, fraction, seconds
from bench.templates import templates_file

#: Angles of the turned-faces case (counter-clockwise on screen) and the recall each must reach.
ANGLES: tuple[tuple[float, float], ...] = (
    (90, 0.95),
    (180, 0.95),
    (270, 0.95),
    (15, 0.95),
    (-15, 0.95),
    (30, 0.95),
    (-30, 0.95),
    (45, 0.85),
)
#: Face sizes of the small-faces case, as a share of the photo's long side.
SHARES: tuple[float, ...] = (0.02, 0.03, 0.04, 0.06)


def measure_many(method: str, photos: list[Path], repeat: int, tag: str) -> list[dict[str, Any]]:
    """Run bench.child over several photos in one fresh process; one result per photo."""
    listing = inputs.cache_dir() / f"{tag}_{method}.list"
    listing.write_text("\n".join(str(p) for p in photos) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.child",
            method,
            str(listing),
            str(templates_file()),
            str(repeat),
        ],
        cwd=inputs.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.child {method} {tag} failed:\n{proc.stderr[-3000:]}")
    out: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])["photos"]
    for result in out:
        result["median"] = statistics.median(result["seconds"])
        result["cpu_median"] = statistics.median(result["cpu_seconds"])
    return out


def _boxes(result: dict[str, Any]) -> list[inputs.Box]:
    return [tuple(b) for b in result["boxes"]]  # type: ignore[misc]


def _score(scene: scenes.Scene, result: dict[str, Any]) -> tuple[int, int]:
    """(pasted faces found, detections that are no face at all) for one photo."""
    found, _ = inputs.pair_up(_boxes(result), scene.pasted)
    _, false = inputs.pair_up(_boxes(result), scene.truth)
    return found, false


def _pct(n: int, total: int) -> str:
    return f"{n}/{total} ({n / total:.0%})" if total else "0/0"


@case(
    "turned", "8. Turned and tilted faces (90, 180, 270, +-15, +-30, 45 degrees), recall per angle"
)
def turned(ctx: Context) -> list[Row]:
    seeds = [0] if ctx.quick else [0, 1, 2]
    photos = {
        angle: [scenes.turned_scene(angle, seed, ctx.quick) for seed in seeds]
        for angle, _ in ANGLES
    }
    flat = [s for angle, _ in ANGLES for s in photos[angle]]
    ctx.log(f"8. turned faces: {len(flat)} photos, ours")
    ours = measure_many("ours", [s.path for s in flat], 1, "turned")
    ctx.log("8. turned faces: baseline")
    base = measure_many("baseline", [s.path for s in flat], 1, "turned")
    rows: list[Row] = []
    false_ours = false_base = 0
    time_ours = time_base = 0.0
    i = 0
    width, height = flat[0].width, flat[0].height
    for angle, target in ANGLES:
        total = found_o = found_b = 0
        per_photo = []
        for scene in photos[angle]:
            fo, xo = _score(scene, ours[i])
            fb, xb = _score(scene, base[i])
            total += len(scene.pasted)
            found_o += fo
            found_b += fb
            false_ours += xo
            false_base += xb
            time_ours += ours[i]["cpu_median"]
            time_base += base[i]["cpu_median"]
            per_photo.append({"photo": scene.path.name, "ours": [fo, xo], "baseline": [fb, xb]})
            i += 1
        rows.append(
            Row(
                f"8. turned {angle:g} degrees ({len(photos[angle])} x {width}x{height}): recall",
                _pct(found_o, total),
                _pct(found_b, total),
                f"{found_o - found_b:+d} faces",
                f">= {target:.0%}",
                found_o >= target * total,
                {"per_photo": per_photo},
            )
        )
    n = len(flat)
    rows.append(
        Row(
            f"8. turned faces: false detections ({n} photos)",
            str(false_ours),
            str(false_base),
            f"{false_ours - false_base:+d}",
            "<= baseline + 1 per photo",
            false_ours <= false_base + n,
        )
    )
    rows.append(
        Row(
            "8. turned faces: CPU time per photo",
            seconds(time_ours / n),
            seconds(time_base / n),
            fraction(time_ours, time_base),
            "- (information)",
            None,
        )
    )
    return rows


@case("small", "9. Small faces (2, 3, 4, 6% of the long side) in 12 MP class photos; scan time")
def small(ctx: Context) -> list[Row]:
    seeds = [0] if ctx.quick else [0, 1]
    photos = {share: [scenes.small_scene(share, seed) for seed in seeds] for share in SHARES}
    flat = [s for share in SHARES for s in photos[share]]
    ctx.log(f"9. small faces: {len(flat)} photos of 12 MP, ours")
    ours = measure_many("ours", [s.path for s in flat], 1, "small")
    ctx.log("9. small faces: baseline (about 6 s a photo)")
    base = measure_many("baseline", [s.path for s in flat], 1, "small")
    rows: list[Row] = []
    i = 0
    for share in SHARES:
        total = found_o = found_b = false_o = false_b = 0
        per_photo = []
        for scene in photos[share]:
            fo, xo = _score(scene, ours[i])
            fb, xb = _score(scene, base[i])
            total += len(scene.pasted)
            found_o += fo
            found_b += fb
            false_o += xo
            false_b += xb
            per_photo.append({"photo": scene.path.name, "ours": [fo, xo], "baseline": [fb, xb]})
            i += 1
        px = round(share * flat[0].width)
        n = len(photos[share])
        rows.append(
            Row(
                f"9. small faces {share:.0%} ({px} px) in {n} x 12 MP: recall",
                _pct(found_o, total),
                _pct(found_b, total),
                f"{found_o - found_b:+d} faces",
                ">= 97%",
                found_o >= 0.97 * total,
                {"per_photo": per_photo},
            )
        )
        rows.append(
            Row(
                f"9. small faces {share:.0%}: false detections ({n} photos)",
                str(false_o),
                str(false_b),
                f"{false_o - false_b:+d}",
                "<= baseline + 1 per photo",
                false_o <= false_b + n,
            )
        )
    cpu_o = statistics.median(r["cpu_median"] for r in ours)
    cpu_b = statistics.median(r["cpu_median"] for r in base)
    wall_o = statistics.median(r["median"] for r in ours)
    wall_b = statistics.median(r["median"] for r in base)
    rows.append(
        Row(
            f"9. whole 12 MP scan, decode to matched faces: CPU time (median of {len(flat)})",
            seconds(cpu_o),
            seconds(cpu_b),
            fraction(cpu_o, cpu_b),
            "<= 1/4",
            cpu_o <= cpu_b / 4,
            {
                "ours_cpu": [r["cpu_median"] for r in ours],
                "baseline_cpu": [r["cpu_median"] for r in base],
            },
        )
    )
    rows.append(
        Row(
            "9. whole 12 MP scan: wall time",
            seconds(wall_o),
            seconds(wall_b),
            fraction(wall_o, wall_b),
            "- (information)",
            None,
        )
    )
    return rows


def _modest_photos() -> list[Path]:
    root = inputs.FACES
    return sorted(
        p
        for folder in ("unknown", "edge", "known")
        for p in root.glob(f"{folder}/**/*")
        if p.suffix.lower() in (".jpg", ".png")
    )


@case(
    "speed", "10. Scan time of the photos in tests/data/faces (0.2-3 MP), against the previous plan"
)
def speed(ctx: Context) -> list[Row]:
    photos = _modest_photos()
    repeat = 1 if ctx.quick else 3
    # Alternate the two plans, twice, so a change in the machine's load hits both alike.
    runs: dict[str, list[list[dict[str, Any]]]] = {"ours": [], "ours_hog": []}
    for _ in range(1 if ctx.quick else 2):
        for method in runs:
            ctx.log(f"10. {len(photos)} photos, {method}")
            runs[method].append(measure_many(method, photos, repeat, "speed"))
    best = {
        method: [min(r[i]["cpu_median"] for r in results) for i in range(len(photos))]
        for method, results in runs.items()
    }
    total_new, total_old = sum(best["ours"]), sum(best["ours_hog"])
    worst = max(n / o for n, o in zip(best["ours"], best["ours_hog"], strict=True))
    found_new = sum(len(r["boxes"]) for r in runs["ours"][0])
    found_old = sum(len(r["boxes"]) for r in runs["ours_hog"][0])
    return [
        Row(
            f"10. {len(photos)} photos of 0.2-3 MP: CPU time, combined plan vs HOG alone",
            f"{seconds(total_new)} ({seconds(total_new / len(photos))} a photo)",
            f"{seconds(total_old)} ({seconds(total_old / len(photos))} a photo)",
            f"{total_new / total_old:.2f}x",
            "<= 1.5x",
            total_new <= 1.5 * total_old,
            {
                "ours_cpu": best["ours"],
                "hog_cpu": best["ours_hog"],
                "photos": [p.name for p in photos],
            },
        ),
        Row(
            "10. slowest photo against the previous plan; faces found",
            f"{worst:.2f}x; {found_new} faces",
            f"{found_old} faces",
            "-",
            "- (information)",
            None,
        ),
    ]
