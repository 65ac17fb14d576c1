"""Case 4: photos through the real job queue (huey on SQLite) with 1 and with 2 worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import inputs
from bench.cases import Context, Row, case

_PASSWORD = "bench-owner-password-123"
#: How the worker is started; bench.queue_profile swaps in a profiled worker.
WORKER_COMMAND = [sys.executable, "-m", "consentcam"]


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
        marks = ",".join("?" * len(ids))
        with closing(self._read_only()) as conn:
            rows = conn.execute(
                f"SELECT scan_state, scan_attempts FROM photo WHERE id IN ({marks})", ids
            ).fetchall()
        return [(str(state), int(attempts)) for state, attempts in rows]

    def _read_only(self) -> sqlite3.Connection:
        path = sa.engine.make_url(self.rt.settings["DATABASE_URL"]).database
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)

    def wait(self, ids: list[int], timeout: float, load: list[float] | None = None) -> float:
        """Seconds until every photo is done or failed (raises on timeout); samples the load.

        One read-only connection for the whole wait and a count, not a row per photo: the poll
        runs on the same two cores as the workers, so it should cost them as little as possible.
        """
        marks = ",".join("?" * len(ids))
        query = (
            f"SELECT count(*) FROM photo WHERE id IN ({marks}) "
            "AND scan_state NOT IN ('done', 'failed')"
        )
        start = time.perf_counter()
        with closing(self._read_only()) as conn:
            while True:
                if load is not None:
                    load.append(os.getloadavg()[0])
                # Each statement is its own read transaction (autocommit), so the connection
                # never holds back the workers' WAL checkpoints.
                left = int(conn.execute(query, ids).fetchone()[0])
                if left == 0:
                    return time.perf_counter() - start
                if time.perf_counter() - start > timeout:
                    raise RuntimeError(f"{left} photos still not scanned after {timeout:.0f} s")
                time.sleep(0.1)


def _start_worker(instance: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [*WORKER_COMMAND, "worker", "--workers", str(workers)],
            env=env,
            cwd=inputs.ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # The worker queues every unfinished scan again when it starts: photos stored before that
    # point would each be queued twice, in the order of that query rather than the benchmark's.
    deadline = time.monotonic() + 300
    while b"worker ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop_worker(proc)
            raise RuntimeError(f"the worker did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return proc


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # huey finishes running tasks and stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this benchmark started, nothing else
            proc.wait()


def _process_tree(root: int) -> list[int]:
    """``root`` and every process below it (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(entry.parent.name)] = int(entry.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return tree if root in parents else []


def _process_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used so far (all cores), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuAccount:
    """Who used the machine's CPU while one run was timed: its workers, this process, others.

    The workers share the cores with everything else on the machine; with two workers on two
    cores any CPU another process takes comes out of their throughput, while one worker leaves
    a core for it. These figures say how much of a run's result that explains.
    """

    def __init__(self, worker_root: int) -> None:
        self.pids = _process_tree(worker_root)
        self.machine = _machine_busy_seconds()
        self.workers = _process_seconds(self.pids)
        times = os.times()
        self.bench = times.user + times.system

    def since(self, elapsed: float) -> dict[str, float | None]:
        machine = _machine_busy_seconds()
        workers = _process_seconds(self.pids) - self.workers
        times = os.times()
        bench = times.user + times.system - self.bench
        if machine is None or self.machine is None or not self.pids:
            return {"worker_cpu_seconds": None, "bench_cpu_seconds": bench, "others_share": None}
        others = max(machine - self.machine - workers - bench, 0.0)
        return {
            "worker_cpu_seconds": workers,
            "bench_cpu_seconds": bench,
            # Of the capacity of every core over the timed window.
            "others_share": others / (elapsed * (os.cpu_count() or 1)),
        }


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
        account = CpuAccount(proc.pid)
        start = time.perf_counter()
        inst.enqueue(ids)
        inst.wait(ids, 3600, load)
        elapsed = time.perf_counter() - start
        cpu = account.since(elapsed)
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
        **cpu,
    }


def _cpu_text(run: dict[str, Any]) -> str:
    if run.get("worker_cpu_seconds") is None or run.get("others_share") is None:
        return "- (no /proc here)"
    per_photo = 1000 * run["worker_cpu_seconds"] / run["photos"]
    return f"{per_photo:.0f} ms/photo; others {100 * run['others_share']:.0f}% of the cores"


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
            "4. queue: worker CPU per photo; CPU other processes took",
            _cpu_text(two),
            _cpu_text(one),
            "-",
            "- (information)",
            None,
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
