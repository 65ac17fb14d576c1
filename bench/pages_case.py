"""Case 6: page latency with 10,000 photos under load (a threaded HTTP client against `consentcam serve`)."""

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench import inputs
from bench.cases import Context, Row, case
from bench.queue_case import _PASSWORD, _cli

OWNER = "owner@example.com"


def seed(instance: Path, photos: int, faces_per_photo: int, people: int) -> dict[str, int]:
    """Fill the database with bulk inserts: people, scanned photos and their faces (mixed states)."""
    import sqlalchemy as sa

    from consentcam.models import Face, Person, Photo
    from consentcam.runtime import Runtime
    from consentcam.services import photos as photo_service

    rt = Runtime.build(instance)
    rng = random.Random(6)
    now = datetime.now(UTC)
    try:
        with rt.sessions() as session:
            # One real photo (and its thumbnail) so every thumbnail key points at a real file.
            real = inputs.modest_photos(1)[0]
            template = photo_service.ingest(session, rt, real.read_bytes(), real.name).photo
            session.flush()
            session.execute(
                sa.insert(Person),
                [{"name": f"Person {i:05d}", "email": f"p{i}@example.com"} for i in range(people)],
            )
            person_ids = session.scalars(sa.select(Person.id)).all()
            photo_rows = []
            for i in range(photos):
                when = now - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
                photo_rows.append(
                    {
                        "sha256": f"{i:064x}",
                        "original_key": template.original_key,
                        "original_name": f"IMG_{i:05d}.jpg",
                        "format": "JPEG",
                        "size_bytes": template.size_bytes,
                        "width": template.width,
                        "height": template.height,
                        "source": "upload",
                        "uploaded_at": when,
                        "scan_state": "done",
                        "scan_attempts": 1,
                        "scanned_at": when,
                        "scan_seconds": 0.5,
                        "thumbnail_key": template.thumbnail_key,
                    }
                )
            session.execute(sa.insert(Photo), photo_rows)
            photo_ids = session.scalars(sa.select(Photo.id).where(Photo.id != template.id)).all()
            face_rows = []
            for photo_id in photo_ids:
                for number in range(1, faces_per_photo + 1):
                    kind = rng.random()
                    row: dict[str, Any] = {
                        "photo_id": photo_id,
                        "number": number,
                        "left": 100 * number,
                        "top": 100,
                        "right": 100 * number + 80,
                        "bottom": 180,
                        "sharpness": 120.0,
                        "state": "pending",
                    }
                    who = rng.choice(person_ids)
                    if kind < 0.6:
                        row.update(state="confirmed", person_id=who, reviewed_at=now)
                    elif kind < 0.8:
                        row.update(
                            state="suggested", suggested_person_id=who, distance=0.4, gap=0.1
                        )
                    face_rows.append(row)
            session.execute(sa.insert(Face), face_rows)
            session.commit()
            counts = {
                "photos": session.scalar(sa.select(sa.func.count(Photo.id))) or 0,
                "faces": session.scalar(sa.select(sa.func.count(Face.id))) or 0,
                "people": session.scalar(sa.select(sa.func.count(Person.id))) or 0,
            }
            counts["person_ids"] = list(person_ids)  # type: ignore[assignment]
            return counts
    finally:
        rt.close()


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


@case("pages", "6. Page latency with 10,000 photos, 16 concurrent clients against consentcam serve")
def pages(ctx: Context) -> list[Row]:
    photos, people, clients, seconds = (
        (1_000, 200, 4, 5.0) if ctx.quick else (10_000, 2_000, 16, 30.0)
    )
    folder = Path(tempfile.mkdtemp(prefix="consentcam-bench-pages-"))
    proc = None
    try:
        instance = folder / "instance"
        _cli(instance, "init", "--owner-email", OWNER, "--owner-password", _PASSWORD)
        ctx.log(f"6. seeding {photos:,} photos / {3 * photos:,} faces / {people:,} people")
        counts = seed(instance, photos, 3, people)
        person_ids = counts.pop("person_ids")  # type: ignore[misc]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
        with (folder / "serve.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "consentcam", "serve", "--port", str(port), "--no-worker"],
                env=env,
                cwd=inputs.ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_up(base)
        opener = login(base)
        rng = random.Random(7)
        urls = {
            "/photos": ["/photos/"],
            "/people/<id>": [f"/people/{pid}" for pid in rng.sample(person_ids, 50)],  # type: ignore[arg-type]
            "/": ["/"],
        }
        ctx.log(f"6. {clients} clients for {seconds:.0f} s")
        results = load(base, opener, urls, clients, seconds)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this benchmark started
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for name, r in results.items():
        rows.append(
            Row(
                f"6. page {name}, {counts['photos']:,} photos, {clients} clients: latency",
                f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms",
                "-",
                "-",
                f"p95 reported; {r['requests']} requests, {r['errors']} errors",
                None if r["errors"] == 0 else False,
                {**r, **counts, "clients": clients, "seconds": seconds},
            )
        )
    return rows
