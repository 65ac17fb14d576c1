"""The benchmark cases: a registry of named cases, each returning rows for the results table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import inputs
from bench.templates import templates_file


@dataclass
class Row:
    """One line of the results table; ``met`` is None for rows that carry no target."""

    case: str
    ours: str
    baseline: str
    ratio: str
    target: str
    met: bool | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What every case gets: quick mode (small inputs, few repeats) and a progress printer."""

    quick: bool = False
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable[[Context], list[Row]]


#: Every case by name, in the order they run. Later cases (page latency, audit timings) add
#: themselves with @case(...) from their own module listed in bench.run.CASE_MODULES.
CASES: dict[str, Case] = {}


def case(
    name: str, title: str
) -> Callable[[Callable[[Context], list[Row]]], Callable[[Context], list[Row]]]:
    def register(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        CASES[name] = Case(name, title, fn)
        return fn

    return register


# --- helpers ------------------------------------------------------------------------------------


def measure(method: str, photo: Path, repeat: int) -> dict[str, Any]:
    """Run bench.child in a fresh process, so peak memory belongs to this one measurement."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.child",
            method,
            str(photo),
            str(templates_file()),
            str(repeat),
        ],
        cwd=inputs.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.child {method} {photo.name} failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["median"] = statistics.median(out["seconds"])
    return out


def seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def fraction(ours: float, baseline: float) -> str:
    """ours/baseline written as 1/N (N = how many times smaller ours is)."""
    if ours <= 0:
        return "n/a"
    n = baseline / ours
    return f"1/{n:.1f}" if n >= 1 else f"{1 / n:.2f}x"


def _boxes(result: dict[str, Any]) -> list[inputs.Box]:
    return [tuple(b) for b in result["boxes"]]  # type: ignore[misc]


# --- 1. a 12 MP phone photo with three faces ----------------------------------------------------


def scan_rows(
    label: str, photo: inputs.Photo, ours: dict[str, Any], base: dict[str, Any], target_n: int
) -> list[Row]:
    """Time, faces and memory rows for one photo scanned by ours and by the baseline."""
    same, ours_extra = inputs.pair_up(_boxes(ours), _boxes(base), threshold=0.5)
    ours_true, ours_false = inputs.pair_up(_boxes(ours), photo.truth)
    base_true, base_false = inputs.pair_up(_boxes(base), photo.truth)
    ratio = ours["median"] / base["median"]
    rows = [
        Row(
            f"{label}: decode to matched faces",
            f"{seconds(ours['median'])} (median of {len(ours['seconds'])})",
            seconds(base["median"]),
            fraction(ours["median"], base["median"]),
            f"<= 1/{target_n}",
            ratio <= 1 / target_n,
            {"ours_seconds": ours["seconds"], "baseline_seconds": base["seconds"], "ratio": ratio},
        ),
        Row(
            f"{label}: faces found (true faces of {len(photo.truth)}, false)",
            f"{ours_true} true, {ours_false} false",
            f"{base_true} true, {base_false} false",
            f"{same} of baseline's {len(base['boxes'])} at IoU>=0.5",
            "all true faces, no extra false",
            ours_true >= base_true and ours_false <= base_false,
            {
                "ours_boxes": ours["boxes"],
                "baseline_boxes": base["boxes"],
                "ours_people": ours["people"],
                "baseline_people": base["people"],
                "iou_matched_with_baseline": same,
                "ours_not_in_baseline": ours_extra,
            },
        ),
    ]
    return rows


def memory_row(label: str, ours: dict[str, Any], base: dict[str, Any], target_n: int | None) -> Row:
    ratio = ours["peak_rss_mb"] / base["peak_rss_mb"]
    return Row(
        f"{label}: peak memory (whole process)",
        f"{ours['peak_rss_mb']:.0f} MiB",
        f"{base['peak_rss_mb']:.0f} MiB",
        fraction(ours["peak_rss_mb"], base["peak_rss_mb"]),
        f"<= 1/{target_n}" if target_n else "-",
        (ratio <= 1 / target_n) if target_n else None,
        {
            "ours_peak_mb": ours["peak_rss_mb"],
            "baseline_peak_mb": base["peak_rss_mb"],
            "ours_before_photo_mb": ours["ready_rss_mb"],
            "baseline_before_photo_mb": base["ready_rss_mb"],
            "ratio": ratio,
        },
    )


@case("scan12", "1. A 12 MP phone JPEG with 3 faces, decode to matched faces")
def scan12(ctx: Context) -> list[Row]:
    mp = 3 if ctx.quick else 12
    photo = inputs.upscale("unknown/obama_and_biden.jpg", mp)
    label = f"1. {mp} MP, 3 faces"
    ctx.log(f"{label}: ours")
    ours = measure("ours", photo.path, 1 if ctx.quick else 3)
    ctx.log(f"{label}: baseline (face_recognition, model=large)")
    base = measure("baseline", photo.path, 1)
    rows = scan_rows(label, photo, ours, base, 6)
    rows.append(memory_row(label, ours, base, None))
    if not ctx.quick:
        ctx.log(f"{label}: baseline with model=small")
        small = measure("baseline_small", photo.path, 1)
        rows.append(
            Row(
                f"{label}: vs baseline with model=small",
                seconds(ours["median"]),
                seconds(small["median"]),
                fraction(ours["median"], small["median"]),
                "- (information)",
                None,
                {"baseline_small_seconds": small["seconds"]},
            )
        )
    return rows


@case("exif", "1b. EXIF-rotated phone photos (Orientation 6 and 8)")
def exif(ctx: Context) -> list[Row]:
    mp = 3 if ctx.quick else 12
    upright = inputs.upscale("unknown/obama_and_biden.jpg", mp)
    rows = []
    for orientation in (6, 8):
        photo = inputs.rotated(upright, orientation)
        label = f"1b. {mp} MP, EXIF {orientation}"
        ctx.log(f"{label}: ours and baseline")
        ours = measure("ours", photo.path, 1)
        base = measure("baseline", photo.path, 1)
        ours_true, ours_false = inputs.pair_up(_boxes(ours), photo.truth)
        base_true, base_false = inputs.pair_up(_boxes(base), photo.truth)
        rows.append(
            Row(
                f"{label}: upright faces found (of {len(photo.truth)})",
                f"{ours_true} true, {ours_false} false, {seconds(ours['median'])}",
                f"{base_true} true, {base_false} false, {seconds(base['median'])}",
                fraction(ours["median"], base["median"]),
                "all faces, upright boxes",
                ours_true == len(photo.truth) and ours_false == 0,
                {"ours_boxes": ours["boxes"], "baseline_boxes": base["boxes"]},
            )
        )
    return rows


# --- 2. group photos with many small faces ------------------------------------------------------


@case("group", "2. Group photos, faces 35-60 px in a 500 px frame, upscaled to phone size")
def group(ctx: Context) -> list[Row]:
    seeds = [0] if ctx.quick else [0, 1, 2]
    mp = 3 if ctx.quick else 12
    totals = {"truth": 0, "ours_true": 0, "ours_false": 0, "base_true": 0, "base_false": 0}
    ours_s, base_s, per_photo = 0.0, 0.0, []
    for seed in seeds:
        photo = inputs.group_photo(seed, mp)
        ctx.log(f"2. group photo {seed} ({len(photo.truth)} faces, {mp} MP): ours and baseline")
        ours = measure("ours", photo.path, 1)
        base = measure("baseline", photo.path, 1)
        ot, of = inputs.pair_up(_boxes(ours), photo.truth)
        bt, bf = inputs.pair_up(_boxes(base), photo.truth)
        totals["truth"] += len(photo.truth)
        totals["ours_true"] += ot
        totals["ours_false"] += of
        totals["base_true"] += bt
        totals["base_false"] += bf
        ours_s += ours["median"]
        base_s += base["median"]
        per_photo.append(
            {"seed": seed, "truth": len(photo.truth), "ours": [ot, of], "baseline": [bt, bf]}
        )
    n = totals["truth"]
    return [
        Row(
            f"2. group photos ({len(seeds)} x {mp} MP, {n} faces): recall",
            f"{totals['ours_true']}/{n} ({totals['ours_true'] / n:.0%})",
            f"{totals['base_true']}/{n} ({totals['base_true'] / n:.0%})",
            f"{totals['ours_true'] - totals['base_true']:+d} faces",
            "same recall as baseline",
            totals["ours_true"] >= totals["base_true"],
            {"per_photo": per_photo},
        ),
        Row(
            "2. group photos: false detections",
            str(totals["ours_false"]),
            str(totals["base_false"]),
            f"{totals['ours_false'] - totals['base_false']:+d}",
            "no more than baseline",
            totals["ours_false"] <= totals["base_false"],
        ),
        Row(
            "2. group photos: total time",
            seconds(ours_s),
            seconds(base_s),
            fraction(ours_s, base_s),
            "- (information)",
            None,
        ),
    ]


# --- 3. a 46 MP photo: time and memory ----------------------------------------------------------


@case("scan46", "3. A 46 MP JPEG: time and peak memory")
def scan46(ctx: Context) -> list[Row]:
    mp = 6 if ctx.quick else 46
    photo = inputs.upscale("unknown/obama_and_biden.jpg", mp)
    label = f"3. {mp} MP, 3 faces"
    ctx.log(f"{label}: ours")
    ours = measure("ours", photo.path, 1 if ctx.quick else 2)
    ctx.log(f"{label}: baseline (this one is slow and needs ~2 GB)")
    base = measure("baseline", photo.path, 1)
    rows = scan_rows(label, photo, ours, base, 8)
    rows.append(memory_row(label, ours, base, 4))
    return rows


# --- 5. matching one face against many templates -------------------------------------------------


def _templates_around(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random templates scattered around real encodings, at real encodings' scale."""
    base = real[rng.integers(0, len(real), count)]
    noise = rng.normal(0.0, 1.0, base.shape)
    noise *= 0.5 / np.linalg.norm(noise, axis=1, keepdims=True)  # distance ~0.5 from a real face
    out = base + noise
    out *= np.linalg.norm(base, axis=1, keepdims=True) / np.linalg.norm(out, axis=1, keepdims=True)
    return out


def match_timings(quick: bool) -> dict[str, Any]:
    """Median and p95 per query for ours and for face_distance + argmin (run in bench.child)."""
    import warnings

    from consentcam.faces.match import Matcher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    real = np.load(templates_file())["ours"]
    rng = np.random.default_rng(5)
    queries_n = 50 if quick else 200
    out: dict[str, Any] = {"queries": queries_n}
    for size in (10_000, 100_000):
        templates = _templates_around(real, size, rng)
        person_ids = np.arange(size) // 5  # five templates per person
        matcher = Matcher(templates, person_ids.tolist())
        queries = _templates_around(real, queries_n, rng)
        ours_ms, base_ms, agree = [], [], 0
        for q in queries:
            t0 = time.perf_counter()
            m = matcher.match(q)
            t1 = time.perf_counter()
            dist = face_recognition.face_distance(templates, q)
            best = int(np.argmin(dist))
            t2 = time.perf_counter()
            ours_ms.append((t1 - t0) * 1000)
            base_ms.append((t2 - t1) * 1000)
            agree += abs(float(dist[best]) - float(m.distance or 0.0)) < 1e-9
        out[str(size)] = {
            "ours_ms": [float(np.median(ours_ms)), float(np.percentile(ours_ms, 95))],
            "baseline_ms": [float(np.median(base_ms)), float(np.percentile(base_ms, 95))],
            "same_nearest": agree,
        }
    return out


def _match_in_child(quick: bool, env: dict[str, str]) -> dict[str, Any]:
    code = "import json,sys; from bench.cases import match_timings; print(json.dumps(match_timings(sys.argv[1] == '1')))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "1" if quick else "0"],
        cwd=inputs.ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"matching benchmark failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@case("match", "5. Matching one face against 10,000 and 100,000 enrolled templates")
def match(ctx: Context) -> list[Row]:
    rows = []
    # As the app runs by default, and with OpenBLAS kept to one thread: on a busy 2-core machine
    # a threaded BLAS call waits for a second core (see bench/PROFILE.md).
    variants = [("", {}), (" [OPENBLAS_NUM_THREADS=1]", {"OPENBLAS_NUM_THREADS": "1"})]
    for suffix, env in variants:
        ctx.log(f"5. matching{suffix or ' (default BLAS threads)'}")
        timings = _match_in_child(ctx.quick, env)
        for size, limit_ms in ((10_000, 3.0), (100_000, 20.0)):
            t = timings[str(size)]
            (o50, o95), (b50, b95) = t["ours_ms"], t["baseline_ms"]
            rows.append(
                Row(
                    f"5. match 1 face vs {size:,} templates{suffix}",
                    f"median {o50:.2f} ms, p95 {o95:.2f} ms",
                    f"median {b50:.2f} ms, p95 {b95:.2f} ms",
                    fraction(o50, b50),
                    f"median < {limit_ms:g} ms",
                    o50 < limit_ms,
                    {**t, "queries": timings["queries"], "env": env},
                )
            )
    return rows
