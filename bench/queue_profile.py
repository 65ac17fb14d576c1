"""Where case 4's workers spend the timed window: `python -m bench.queue_profile WORKERS [COUNT]`.

Runs the queue case's own run (``bench.queue_case.run_queue``: a fresh instance, the real
`consentcam worker`, the same warm-up and timing) with every huey worker under cProfile and each
of its loops timed: wall time, the thread's CPU time and the time it waited for a core (from
/proc/thread-self/schedstat, Linux only). Prints, per worker, how the timed window splits into
CPU, waiting for a core, blocked (I/O, locks) and idle, and the CPU other processes took; writes
one .prof per worker to OUT (default bench/results/queue-profile-WORKERS/) for pstats.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ENV = "BENCH_QUEUE_PROFILE"
#: A loop that ran a task longer than this scanned a photo (a duplicate job takes ~1 ms).
SCAN_SECONDS = 0.05


def _run_queue_seconds() -> float:
    return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9


def _profiled_worker(argv: list[str]) -> None:
    """`consentcam worker`, with huey's Worker profiled and its loops logged (in each worker)."""
    import cProfile

    import huey.consumer as hc

    out = Path(os.environ[ENV])
    initialize, loop, shutdown = hc.Worker.initialize, hc.Worker.loop, hc.Worker.shutdown

    def profiled_initialize(self: Any) -> None:
        initialize(self)
        self.bench_log = []
        self.bench_profile = cProfile.Profile()
        self.bench_profile.enable()

    def timed_loop(self: Any, now: Any = None) -> None:
        wait0, wall0, cpu0 = _run_queue_seconds(), time.perf_counter(), time.thread_time()
        before = self.task_count
        loop(self, now)
        ran = self.task_count - before
        self.bench_log.append(
            (wall0, time.perf_counter(), cpu0, time.thread_time(), wait0, _run_queue_seconds(), ran)
        )

    def profiled_shutdown(self: Any) -> None:
        self.bench_profile.disable()
        name = f"worker-{os.getpid()}-{threading.get_ident()}"
        self.bench_profile.dump_stats(out / f"{name}.prof")
        (out / f"{name}.json").write_text(json.dumps(self.bench_log))
        shutdown(self)

    hc.Worker.initialize, hc.Worker.loop = profiled_initialize, timed_loop
    hc.Worker.shutdown = profiled_shutdown
    from consentcam.cli import main

    main(argv, prog_name="consentcam")


def profile(workers: int, count: int, out: Path) -> dict[str, Any]:
    from bench import inputs, queue_case

    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("worker-*.prof"), *out.glob("worker-*.json")]:
        old.unlink()
    window: dict[str, float] = {}
    account_init, account_since = queue_case.CpuAccount.__init__, queue_case.CpuAccount.since

    def init(self: Any, root: int) -> None:
        account_init(self, root)
        window["start"] = time.perf_counter()

    def since(self: Any, elapsed: float) -> dict[str, float | None]:
        window["end"] = window["start"] + elapsed
        return account_since(self, elapsed)

    queue_case.CpuAccount.__init__ = init  # type: ignore[method-assign,assignment]
    queue_case.CpuAccount.since = since  # type: ignore[method-assign]
    queue_case.WORKER_COMMAND = [sys.executable, "-m", "bench.queue_profile", "--as-worker"]
    os.environ[ENV] = str(out.resolve())
    photos = inputs.modest_photos(count + 4)
    folder = Path(tempfile.mkdtemp(prefix=f"consentcam-queue-profile{workers}-"))
    try:
        result = queue_case.run_queue(folder, photos[4:], photos[: workers * 2], workers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["window"] = window
    (out / "run.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def report(out: Path) -> str:
    result = json.loads((out / "run.json").read_text())
    start, end = result["window"]["start"], result["window"]["end"]
    lines = [
        f"{result['workers']} worker(s), {result['photos']} photos: {end - start:.2f} s, "
        f"{result['per_second']:.3f} photos/s; load average {result['load_average']:.2f}; "
        f"this benchmark's own CPU {result['bench_cpu_seconds']:.2f} s; other processes took "
        f"{100 * (result['others_share'] or 0):.1f}% of the cores"
    ]
    totals = dict.fromkeys(("scans", "wall", "cpu", "wait", "blocked", "idle"), 0.0)
    for path in sorted(out.glob("worker-*.json")):
        loops = [entry for entry in json.loads(path.read_text()) if entry[1] > start]
        loops = [entry for entry in loops if entry[0] < end]
        scans = [e for e in loops if e[6] and e[1] - e[0] > SCAN_SECONDS]
        wall = sum(e[1] - e[0] for e in scans)
        cpu = sum(e[3] - e[2] for e in scans)
        wait = sum(e[5] - e[4] for e in scans)
        last = max((e[1] for e in scans), default=start)
        first = min((e[0] for e in scans), default=start)
        # Idle: the window outside this worker's scans (polling an empty queue, no-op jobs).
        idle = (end - start) - wall
        lines.append(
            f"  {path.stem}: {len(scans)} scans, {wall:.2f} s = CPU {cpu:.2f} + waiting for a "
            f"core {wait:.2f} + blocked {wall - cpu - wait:.2f}; idle {idle:.2f} s (first scan "
            f"+{first - start:.2f} s, last ends {end - last:.2f} s before the window closes)"
        )
        for key, value in zip(
            totals, (len(scans), wall, cpu, wait, wall - cpu - wait, idle), strict=True
        ):
            totals[key] += value
    if totals["scans"]:
        n = totals["scans"]
        lines.append(
            f"  per scan: CPU {1000 * totals['cpu'] / n:.0f} ms, waiting for a core "
            f"{1000 * totals['wait'] / n:.1f} ms, blocked {1000 * totals['blocked'] / n:.1f} ms;"
            f" idle in the window, all workers: {totals['idle']:.2f} s"
        )
    profiles = sorted(str(p) for p in out.glob("worker-*.prof"))
    if profiles:
        stats = pstats.Stats(*profiles)
        wanted = [
            ("scanning.py", "scan_photo"),
            ("pipeline.py", "scan_image"),
            ("engine.py", "detect"),
            ("engine.py", "encode"),
            ("decode.py", "_decode"),
            ("scanning.py", "apply_scan"),
            ("huey/api.py", "dequeue"),
        ]
        table = stats.stats  # type: ignore[attr-defined]
        lines.append("  cProfile, all workers (whole life, warm-up included), wall ms per call:")
        for file_part, name in wanted:
            calls = sum(v[1] for k, v in table.items() if file_part in k[0] and k[2] == name)
            cum = sum(v[3] for k, v in table.items() if file_part in k[0] and k[2] == name)
            if calls:
                lines.append(f"    {name:12} {calls:5d} calls {1000 * cum / calls:8.1f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--as-worker"]:
        _profiled_worker(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.queue_profile", description=__doc__)
    parser.add_argument("workers", type=int)
    parser.add_argument("count", type=int, nargs="?", default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from bench.run import RESULTS

    out = args.out or RESULTS / f"queue-profile-{args.workers}"
    profile(args.workers, args.count, out)
    print(report(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
