"""Faults: kill the server and its worker mid-upload and mid-withdrawal; nothing acknowledged is lost."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from consentcam.models import ConsentChannel, Event, Face, Photo
from consentcam.runtime import Runtime
from consentcam.services import sweeper
from tests.conftest import FACES
from tests.hardening import servers
from tests.waits import wait_gone, wait_until

pytestmark = pytest.mark.slow


def _person_with_consent(instance: Path, tmp_path: Path) -> int:
    evidence = tmp_path / "form.pdf"
    evidence.write_bytes(b"%PDF-1.4 signed consent form")
    out = servers.cli(
        instance,
        "person",
        "add",
        "Barack Obama",
        "--channels",
        "instagram,facebook",
        "--evidence",
        str(evidence),
        "--json",
    )
    return int(__import__("json").loads(out.stdout.strip().splitlines()[-1])["id"])


def _scan_counts(rt: Runtime) -> tuple[int, int]:
    """(photos, photos whose scan is still open)."""
    with rt.sessions() as s:
        total = s.scalar(sa.select(sa.func.count(Photo.id))) or 0
        open_ = s.scalar(
            sa.select(sa.func.count(Photo.id)).where(Photo.scan_state.in_(("pending", "scanning")))
        )
    return total, open_ or 0


def _wait_for_scans(rt: Runtime, expected: int, timeout: float = 240) -> None:
    def done() -> bool:
        total, open_ = _scan_counts(rt)
        return total >= expected and open_ == 0

    wait_until(
        done,
        timeout=timeout,
        interval=1,
        message=lambda: f"scans did not finish: (photos, still open) = {_scan_counts(rt)}",
    )


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_kill_server_and_worker_mid_upload_and_mid_withdrawal(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    person_id = _person_with_consent(instance, tmp_path)
    token = servers.token_for_owner(instance)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    serve_args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "8"]
    proc = servers.start(serve_args, instance, log)
    files = {f"p{n}.jpg": servers.variant(servers.BASES[n % 3], n) for n in range(24)}
    acknowledged: dict[str, str] = {}
    withdrawal: dict[str, object] = {}
    try:
        servers.wait_up(url, proc, log)
        workers = servers.children(proc.pid)
        assert workers, "serve starts its worker as a child process"

        def send(name: str) -> None:
            try:
                status, body = servers.upload(url, token, name, files[name])
            except (OSError, http.client.HTTPException, ValueError):
                return  # the server died under this request: not acknowledged
            if status in (200, 201):
                acknowledged[name] = hashlib.sha256(files[name]).hexdigest()

        def withdraw() -> None:
            time.sleep(0.3)  # let the uploads get under way first: no assertion follows this
            try:
                status, body = servers.api(
                    f"{url}/api/v1/people/{person_id}/withdrawals",
                    token,
                    "POST",
                    {"channels": ["instagram"]},
                )
                withdrawal["status"] = status
            except (OSError, http.client.HTTPException, ValueError):
                withdrawal["status"] = None

        # 20 concurrent uploads while the worker scans: the web process must stay up and dlib-free.
        with ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(send, list(files)[:20]))
        assert len(acknowledged) == 20, "20 concurrent uploads all complete"
        assert len(set(acknowledged.values())) == 20
        assert proc.poll() is None
        assert "dlib" not in _maps(proc.pid), "the web process never loads dlib"
        # Now a second batch and a withdrawal in flight, and a power cut in the middle of them.
        threads = [threading.Thread(target=send, args=(n,)) for n in list(files)[20:]]
        threads.append(threading.Thread(target=withdraw))
        for t in threads:
            t.start()
        # The power cut comes right after the withdrawal is answered (however busy the machine).
        wait_until(lambda: "status" in withdrawal, timeout=120, message="no answer to withdrawal")
        servers.kill_group(proc)
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a request outlived the power cut"
        # SIGKILL reached the worker too; it is gone as soon as the kernel has ended it.
        wait_gone(workers, timeout=30)
    finally:
        servers.kill_group(proc)

    # Restart: the worker sweeps leftovers and re-queues unfinished scans.
    proc = servers.start(serve_args, instance, log)
    rt = Runtime.build(instance)
    try:
        servers.wait_up(url, proc, log)
        _wait_for_scans(rt, len(set(acknowledged.values())))
        with rt.sessions() as s:
            photos = s.scalars(sa.select(Photo)).all()
            by_sha = {p.sha256: p for p in photos}
            # Every acknowledged upload is there.
            for name, digest in acknowledged.items():
                assert digest in by_sha, f"{name} was acknowledged but is lost"
            # Every photo is scanned, its faces once.
            for photo in photos:
                assert photo.scan_state == "done", (photo.id, photo.scan_state, photo.scan_error)
                assert 1 <= photo.scan_attempts <= 2
                numbers = s.scalars(sa.select(Face.number).where(Face.photo_id == photo.id)).all()
                assert len(numbers) == len(set(numbers)) and len(numbers) >= 1
            # The power cut came right after the withdrawal was acknowledged, uploads in flight.
            assert withdrawal.get("status") == 200, withdrawal
            if withdrawal.get("status") == 200:
                ended = s.scalars(
                    sa.select(ConsentChannel).where(ConsentChannel.channel == "instagram")
                ).one()
                assert ended.withdrawn_at is not None, "an acknowledged withdrawal was lost"
                assert s.scalar(
                    sa.select(sa.func.count())
                    .select_from(Event)
                    .where(Event.kind.like("consent.withdr%"))
                )
            # No row points to a missing file.
            missing = [k for k in sweeper.referenced_keys(s) if not rt.storage.exists(k)]
            assert not missing, missing
            result = sweeper.sweep(s, rt, min_age=0, temp_min_age=0)
            again = sweeper.sweep(s, rt, dry_run=True, min_age=0, temp_min_age=0)
        assert again.orphans == [] and again.temporaries == [] and again.missing == []
        assert result.missing == []
        # Same-face counts as a photo of the same base: nothing duplicated by the re-scan.
        with rt.sessions() as s:
            counts = {p.sha256: len(p.faces) for p in s.scalars(sa.select(Photo)).all()}
        per_base: dict[int, set[int]] = {}
        for n, data in enumerate(files.values()):
            digest = hashlib.sha256(data).hexdigest()
            if digest in counts:
                per_base.setdefault(n % 3, set()).add(counts[digest])
        assert all(len(v) == 1 for v in per_base.values()), per_base
        assert "dlib" not in _maps(proc.pid)
    finally:
        servers.stop(proc)
        rt.close()
    assert FACES.exists()
