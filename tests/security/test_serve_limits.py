"""`consentcam serve` under idle connections, and the instance's file permissions on disk."""

from __future__ import annotations

import socket
import stat
import time
import urllib.request
from pathlib import Path

import pytest

from tests.hardening import servers

pytestmark = pytest.mark.slow

PARTIAL = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _login_within(url: str, seconds: float) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(url + "/login", timeout=seconds) as response:
        assert response.status == 200
        assert b"password" in response.read().lower()
    return time.monotonic() - started


@pytest.mark.parametrize("processes", [1, 2])
def test_more_idle_connections_than_the_limit_do_not_stop_the_server(
    tmp_path: Path, processes: int
) -> None:
    """Hundreds of sockets that send half a header (waitress's limit was 100 per process, its
    idle timeout 120 s) must not keep the sign-in page from anyone else."""
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    limit = 50
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
    args += ["--connection-limit", str(limit), "--processes", str(processes)]
    proc = servers.start(args, instance, log)
    idle: list[socket.socket] = []
    try:
        servers.wait_up(url, proc, log)
        # More half-sent requests than every process together can hold.
        for _ in range(limit * processes + 30):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(PARTIAL)
            idle.append(sock)
        time.sleep(0.5)  # let the server take them all in
        for _ in range(3):
            assert _login_within(url, 2.0) < 2.0
        # Each process still serves while the attack goes on: new partial sockets keep coming.
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(PARTIAL)
            idle.append(sock)
        assert _login_within(url, 2.0) < 2.0
    finally:
        for sock in idle:
            sock.close()
        servers.stop(proc)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_instance_files_are_private_after_init_and_restore(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    private_files = ["consentcam.db", "config.toml"]
    for name in ["consentcam.db-wal", "consentcam.db-shm", "queue.db"]:
        if (instance / name).exists():
            private_files.append(name)
    assert _mode(instance) == 0o700
    for name in private_files:
        assert _mode(instance / name) == 0o600, name
    for path in instance.rglob("*"):
        assert _mode(path) & 0o077 == 0, f"{path} is readable by others"

    archive = tmp_path / "backup.tar.gz"
    servers.cli(instance, "backup", "-o", str(archive))
    restored = tmp_path / "restored"
    servers.cli(instance, "restore", str(archive), "--instance", str(restored))
    assert _mode(restored) == 0o700
    for path in restored.rglob("*"):
        assert _mode(path) & 0o077 == 0, f"{path} is readable by others after restore"
    assert _mode(restored / "consentcam.db") == 0o600
