"""Case 4: photos through the real job queue (huey on SQLite) with 1 and with 2 worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench import inputs
from bench.cases import Context, Row, case

_PASSWORD = "bench-owner-password-123"


def _cli(instance: Path, *args: str) -> None:
    env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
    proc = subprocess.run(
        [sys.executable, "-m", "consentcam", *args],
        env=env,
        cwd=inputs.ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"consentcam {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def make_instance(folder: Path) -> Path:
    """A fresh instance made by the real CLI: `consentcam init`, then five people enrolled."""
    instance = folder / "instance"
    _cli(
        instance,
        "init",
        "--owner-email",
        "owner@example.com",
        "--owner-password",
        _PASSWORD,
        "--business",
        "Bench",
    )
    evidence = folder / "signed-form.jpg"
    from PIL import Image

    Image.new("RGB", (600, 800), (250, 250, 245)).save(evidence, "JPEG")
    for person, refs in inputs.reference_photos().items():
        args = ["person", "add", person.replace("_", " ").title(), "--channels", "instagram"]
        args += ["--evidence", str(evidence), "--biometric"]
        for ref in refs:
            args += ["--reference", str(ref)]
        _cli(instance, *args)
    return instance


class Instance:
    """The instance's runtime and a huey queue with the app's tasks, as the web app enqueues."""

    def __init__(self, path: Path) -> None:
        from flask import Flask

        from consentcam import jobs
        from consentcam.runtime import Runtime

        self.rt = Runtime.build(path)
        # A bare Flask app with the real jobs registered: enqueueing needs nothing else, and this
        # keeps the benchmark independent of the web pages being built.
        self.app = Flask("bench-enqueue")
        self.app.config["QUEUE_URL"] = self.rt.settings["QUEUE_URL"]
        self.app.extensions["runtime"] = self.rt
        self.jobs = jobs.init_app(self.app)

    def ingest(self, paths: list[Path]) -> list[int]:
        from consentcam.services import photos

        ids = []
        with self.rt.sessions() as session:
            for path in paths:
                ids.append(photos.ingest(session, self.rt, path.read_bytes(), path.name).photo.id)
            session.commit()
        return ids

    def enqueue(self, ids: list[int]) -> None:
        for photo_id in ids:
            self.jobs.enqueue("scan_photo", photo_id)

    def states(self, ids: list[int]) -> list[tuple[str, int]]:
        """(scan_state, scan_attempts) per photo, read on a read-only connection.

        The app's sessions open every transaction with BEGIN IMMEDIATE (a write lock); polling
        through them would compete with the workers for that lock and slow what is measured.
        """
        import sqlite3

        import sqlalchemy as sa

        path = sa.engine.make_url(self.rt.settings["DATABASE_URL"]).database
        marks = ",".join("?" * len(ids))
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as conn:
            rows = conn.execute(
                f"SELECT scan_state, scan_attempts FROM photo WHERE id IN ({marks})", ids
            ).fetchall()
        return [(str(state), int(attempts)) for state, attempts in rows]

    def wait(self, ids: list[int], timeout: float, load: list[float] | None = None) -> float:
        """Seconds until every photo is done or failed (raises on timeout); samples the load."""
        start = time.perf_counter()
        while True:
            if load is not None:
                load.append(os.getloadavg()[0])
            states = self.states(ids)
            if all(s in ("done", "failed") for s, _ in states):
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                left = sum(s not in ("done", "failed") for s, _ in states)
                raise RuntimeError(f"{left} photos still not scanned after {timeout:.0f} s")
            time.sleep(0.1)


def _start_worker(instance: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
    with log.open("wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "consentcam", "worker", "--workers", str(workers)],
            env=env,
            cwd=inputs.ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # huey finishes running tasks and stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this benchmark started, nothing else
            proc.wait()


def run_queue(folder: Path, photos: list[Path], warmup: list[Path], workers: int) -> dict[str, Any]:
    """Scan ``photos`` on a fresh instance with ``workers`` worker processes; time enqueue-to-done."""
    path = make_instance(folder)
    inst = Instance(path)
    proc = _start_worker(path, workers, folder / "worker.log")
    try:
        # The photos are stored first (the worker only requeues pending photos when it starts,
        # and it started before this). Then a warm-up batch, so the workers have forked, built
        # their matcher and are polling the queue at their shortest interval when the clock starts.
        ids = inst.ingest(photos)
        warm_ids = inst.ingest(warmup)
        inst.enqueue(warm_ids)
        inst.wait(warm_ids, 300)
        load: list[float] = []
        start = time.perf_counter()
        inst.enqueue(ids)
        inst.wait(ids, 3600, load)
        elapsed = time.perf_counter() - start
        states = inst.states(ids)
    finally:
        _stop_worker(proc)
        inst.rt.close()
    return {
        "workers": workers,
        "photos": len(ids),
        "seconds": elapsed,
        "per_second": len(ids) / elapsed,
        "done": sum(s == "done" for s, _ in states),
        "failed": sum(s == "failed" for s, _ in states),
        "scanned_once": sum(a == 1 for _, a in states),
        # Other processes on the machine compete for the same cores; this says how much.
        "load_average": sum(load) / len(load) if load else None,
    }


@case("queue", "4. Photos through the real job queue, 1 vs 2 worker processes")
def queue(ctx: Context) -> list[Row]:
    count = 20 if ctx.quick else 200
    all_photos = inputs.modest_photos(count + 4)
    warmup, photos = all_photos[:4], all_photos[4:]
    results = []
    for workers in (1, 2):
        folder = Path(tempfile.mkdtemp(prefix=f"consentcam-bench-queue{workers}-"))
        try:
            ctx.log(f"4. queue: {count} photos with {workers} worker process(es)")
            results.append(run_queue(folder, photos, warmup[: workers * 2], workers))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    one, two = results
    ratio = two["per_second"] / one["per_second"]
    once = all(r["scanned_once"] == r["photos"] and r["failed"] == 0 for r in results)
    return [
        Row(
            f"4. queue, {count} photos of 1-2 MP: throughput",
            f"2 workers: {two['per_second']:.2f} photos/s ({two['seconds']:.1f} s)",
            f"1 worker: {one['per_second']:.2f} photos/s ({one['seconds']:.1f} s)",
            f"{ratio:.2f}x",
            ">= 1.7x",
            ratio >= 1.7,
            {"runs": results, "ratio": ratio, "cpus": os.cpu_count()},
        ),
        Row(
            "4. queue: every photo scanned exactly once",
            f"{two['scanned_once']}/{two['photos']} once, {two['failed']} failed",
            f"{one['scanned_once']}/{one['photos']} once, {one['failed']} failed",
            "-",
            "all once, none failed",
            once,
        ),
    ]
