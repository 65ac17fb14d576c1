"""Case 6: page latency with 10,000 photos under load (wrk, 16 connections, against `consentcam serve`)."""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench import inputs
from bench.cases import Context, Row, case
from bench.queue_case import _PASSWORD, _cli
from bench.seeding import seed

OWNER = "owner@example.com"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def _wait_up(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/login", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"consentcam serve did not answer on {base} within {timeout:.0f} s")


def login(base: str) -> urllib.request.OpenerDirector:
    """Sign in once through the real form (CSRF token included); the cookie is then shared."""
    opener = _opener()
    page = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    fields = {"email": OWNER, "password": _PASSWORD}
    if token:
        fields["csrf_token"] = token.group(1)
    response = opener.open(base + "/login", urllib.parse.urlencode(fields).encode(), timeout=30)
    if "/login" in response.geturl():
        raise RuntimeError("signing in to the benchmark instance failed")
    return opener


def load(
    base: str,
    opener: urllib.request.OpenerDirector,
    pages: dict[str, list[str]],
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """``clients`` threads request the pages round-robin for ``seconds``; latency per page."""
    cookies = [h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)][
        0
    ].cookiejar
    latencies: dict[str, list[float]] = {name: [] for name in pages}
    errors: dict[str, int] = {name: 0 for name in pages}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        own = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
        rng = random.Random(number)
        names = list(pages)
        i = number
        while time.monotonic() < stop:
            name = names[i % len(names)]
            i += 1
            url = base + rng.choice(pages[name])
            start = time.perf_counter()
            try:
                with own.open(url, timeout=120) as response:
                    response.read()
                    ok = response.status == 200 and "/login" not in response.geturl()
            except (urllib.error.URLError, OSError):
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    latencies[name].append(elapsed)
                else:
                    errors[name] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {}
    for name, values in latencies.items():
        arr = np.asarray(values) * 1000 if values else np.asarray([np.nan])
        out[name] = {
            "requests": len(values),
            "errors": errors[name],
            "p50_ms": float(np.median(arr)),
            "p95_ms": float(np.percentile(arr, 95)),
        }
    return out


TARGET_P95_MS = 100.0
#: The production set-up measured: one waitress process per core (the machine has two).
PROCESSES, THREADS = 2, 4


#: wrk prints the latency percentiles this benchmark reports (in microseconds) when it is done.
WRK_REPORT = """
done = function(summary, latency, requests)
  for _, p in ipairs({50, 95, 99}) do
    io.write(string.format("p%d_us %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("errors %d\\n", summary.errors.status + summary.errors.timeout
    + summary.errors.connect + summary.errors.read + summary.errors.write))
end
"""


def group_cpu_seconds(group: int) -> float:
    """CPU time (user and system) the processes of process group ``group`` have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def wrk_load(
    base: str,
    cookie: str,
    paths: list[str],
    clients: int,
    seconds: float,
    folder: Path,
    group: int | None = None,
) -> dict[str, Any]:
    """A page under ``wrk`` (a C load generator: it takes little of the server's CPU) with
    ``clients`` open connections, after a 3-second warm-up; each request picks one of ``paths``
    at random (e.g. 50 different people). Latency percentiles and requests per second."""
    script = folder / "load.lua"
    listed = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"paths = {{{listed}}}\n"
        "request = function() return wrk.format(nil, paths[math.random(#paths)]) end\n" + WRK_REPORT
    )
    head = ["wrk", "-t2", f"-c{clients}", "--timeout", "10s", "-H", f"Cookie: {cookie}"]
    head += ["-s", str(script)]
    subprocess.run([*head, "-d3s", base + "/"], capture_output=True, check=True)
    cpu_before = group_cpu_seconds(group) if group is not None else 0.0
    out = subprocess.run(
        [*head, f"-d{seconds:.0f}s", base + "/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = dict(re.findall(r"^(p\d+_us|errors) (\d+)$", out, re.M))
    requests = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    served = int(requests.group(1)) if requests else 0
    cpu = group_cpu_seconds(group) - cpu_before if group is not None else 0.0
    return {
        # The server's own CPU per request: what the page costs, whatever else the machine runs.
        "server_cpu_ms": 1000 * cpu / served if served and group is not None else None,
        "requests": int(requests.group(1)) if requests else 0,
        "errors": int(found.get("errors", 0)),
        **{f"p{p}_ms": int(found.get(f"p{p}_us", 0)) / 1000 for p in (50, 95, 99)},
        "req_per_s": float(rate.group(1)) if rate else 0.0,
    }


#: The two ways the pages are measured: quiet, and while someone reviews faces (a change of a
#: photo's standing every second). Every request is rendered from the database either way.
MODES: tuple[tuple[str, float], ...] = (("", 0.0), (" [a change every second]", 1.0))


class Changer:
    """Makes a real change every ``interval`` seconds while a page is under load: a face is
    blurred and unblurred again through the review service, so a photo's standing is worked out
    and written in each change's unit of work (as while someone is reviewing faces)."""

    def __init__(self, instance: Path, interval: float) -> None:
        self.instance, self.interval = instance, interval
        self.done = threading.Event()
        self.changes = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> Changer:
        if self.interval:
            self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(30)

    def run(self) -> None:
        import sqlalchemy as sa

        from consentcam.models import Face, Photo
        from consentcam.runtime import Runtime
        from consentcam.services import review
        from consentcam.uow import unit_of_work

        rt = Runtime.build(self.instance)
        try:
            while not self.done.wait(self.interval):
                with unit_of_work(rt) as session:
                    face = session.scalar(
                        sa.select(Face)
                        .join(Photo)
                        .where(Photo.scan_state == "done")
                        .order_by(Face.id)
                        .limit(1)
                    )
                    assert face is not None
                    review.set_blur(session, rt, face, not face.blur)
                self.changes += 1
        finally:
            rt.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this benchmark started
            proc.wait()


def _measure(
    ctx: Context,
    instance: Path,
    folder: Path,
    urls: dict[str, list[str]],
    number: str,
    clients: int,
    seconds: float,
    change_every: float = 0.0,
) -> tuple[str, dict[str, Any]]:
    """Start `consentcam serve` on the instance, load each page, stop it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
    command = [sys.executable, "-m", "consentcam", "serve", "--port", str(port), "--no-worker"]
    command += ["--processes", str(PROCESSES), "--threads", str(THREADS)]
    with (folder / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=inputs.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_up(base)
        opener = login(base)
        if not shutil.which("wrk"):
            # Without wrk (apt-get install wrk) the Python client shares the server's cores.
            tool = f"Python threads (no wrk), {clients} clients, {seconds:.0f} s, pages mixed"
            ctx.log(f"{number} {tool}")
            return tool, load(base, opener, urls, clients, seconds)
        tool = f"wrk, {clients} connections, {seconds:.0f} s per page after 3 s warm-up"
        jar = [h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)]
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar[0].cookiejar)
        results = {}
        for name, paths in urls.items():
            what = f" (a change every {change_every:g} s)" if change_every else ""
            ctx.log(f"{number} {name}{what}: {tool}")
            with Changer(instance, change_every) as changer:
                results[name] = wrk_load(
                    base, cookie, paths, clients, seconds, folder, group=proc.pid
                )
            results[name]["changes"] = changer.changes
        return tool, results
    finally:
        _stop(proc)


@case("pages", "6. Page latency with 10,000 photos, 16 concurrent clients against consentcam serve")
def pages(ctx: Context) -> list[Row]:
    scale = (1_000, 200, 4, 5.0) if ctx.quick else (10_000, 2_000, 16, 20.0)
    return _pages(ctx, "6.", *scale)


@case(
    "pages100k",
    "6b. Page latency with 100,000 photos, 16 concurrent clients against consentcam serve",
)
def pages_100k(ctx: Context) -> list[Row]:
    """The same pages at ten times the photos, faces and people (seeding takes minutes)."""
    scale = (10_000, 2_000, 4, 5.0) if ctx.quick else (100_000, 20_000, 16, 20.0)
    return _pages(ctx, "6b.", *scale)


def _pages(
    ctx: Context, number: str, photos: int, people: int, clients: int, seconds: float
) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="consentcam-bench-pages-"))
    rows: list[Row] = []
    try:
        instance = folder / "instance"
        _cli(instance, "init", "--owner-email", OWNER, "--owner-password", _PASSWORD)
        ctx.log(f"{number} seeding {photos:,} photos / {3 * photos:,} faces / {people:,} people")
        started = time.monotonic()
        counts = seed(instance, photos, 3, people)
        ctx.log(f"{number} seeded in {time.monotonic() - started:.0f} s")
        person_ids: list[int] = counts.pop("person_ids")  # type: ignore[assignment]
        rng = random.Random(7)
        urls = {
            "/photos": ["/photos/"],
            "/people/<id>": [f"/people/{pid}" for pid in rng.sample(person_ids, 50)],
            "/": ["/"],
        }
        for label, change_every in MODES:
            tool, results = _measure(
                ctx, instance, folder, urls, number, clients, seconds, change_every
            )
            for name, r in results.items():
                head = f"{number} page {name}, {counts['photos']:,} photos, {clients} clients"
                r.update(clients=clients, seconds=seconds, tool=tool)
                rows.append(_row(f"{head}: latency{label}", r, counts, change_every))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def _row(name: str, r: dict[str, Any], counts: dict[str, int], change_every: float) -> Row:
    """One page's latency as a row of the table (with a change every second: information)."""
    informational = bool(change_every)
    changed = f"{r['changes']} changes, " if r.get("changes") else ""
    return Row(
        name,
        # p95 to a tenth of a millisecond: the target is "under 100", and 99.6 is not 100.
        f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.1f} ms, "
        f"p99 {r.get('p99_ms', float('nan')):.0f} ms, "
        f"{r.get('req_per_s', r['requests'] / r['seconds']):.0f} req/s"
        + (f", {r['server_cpu_ms']:.1f} ms server CPU a request" if r.get("server_cpu_ms") else ""),
        "-",
        "-",
        f"p95 < {TARGET_P95_MS:.0f} ms ({r['errors']} errors)"
        if not informational
        else f"- (information; {changed}{r['errors']} errors)",
        (r["errors"] == 0 and r["p95_ms"] < TARGET_P95_MS) if not informational else None,
        {
            **r,
            **counts,
            "server": f"consentcam serve --processes {PROCESSES} --threads {THREADS}",
            "load_average": os.getloadavg()[0],
        },
    )
