"""`consentcam serve --processes N` (gunicorn): long-lived connections are shared evenly between
the processes, and a process that dies is replaced without the others waiting for it."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.hardening import servers
from tests.waits import wait_gone, wait_until

pytestmark = pytest.mark.slow

REQUEST = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _established(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def _connections_of(pid: int, inodes: set[str]) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def _open_all(port: int, n: int) -> list[socket.socket]:
    """``n`` keep-alive connections opened at once (as a browser or load tool does), each
    answered once and then held open."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    for conn in conns:
        conn.sendall(REQUEST)
    for conn in conns:
        assert conn.recv(65536).startswith(b"HTTP/1.1 200"), "every connection is served"
    return conns


def _per_process(port: int, pids: list[int], total: int) -> list[int]:
    """Connections each process holds, once the kernel shows all ``total`` of them."""

    def counts() -> list[int]:
        inodes = _established(port)
        return [_connections_of(pid, inodes) for pid in pids]

    wait_until(lambda: sum(counts()) >= total, timeout=30, message=lambda: f"held: {counts()}")
    return counts()


def _replaced(server: int, dead: int) -> list[int]:
    """The server's two web processes once ``dead`` is reaped and replaced (else empty)."""
    found = servers.children(server)
    return found if len(found) == 2 and dead not in found else []


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_connections_are_shared_evenly_and_a_dead_process_is_not_waited_for(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
    proc = servers.start([*args, "--processes", "2", "--threads", "4"], instance, log)
    conns: list[socket.socket] = []
    try:
        servers.wait_up(url, proc, log)
        pids = servers.children(proc.pid)
        assert len(pids) == 2, pids
        conns = _open_all(port, 16)
        counts = _per_process(port, pids, 16)
        assert sum(counts) == 16, counts
        assert max(counts) - min(counts) <= 2, f"connections per process: {counts}"

        # One process dies: the server replaces it, and the dead one holds nobody back.
        os.kill(pids[0], signal.SIGKILL)
        wait_gone(pids[:1])
        for conn in conns:
            conn.close()
        now = wait_until(
            lambda: _replaced(proc.pid, pids[0]),
            timeout=60,
            message=lambda: f"web processes: {servers.children(proc.pid)}",
        )
        assert pids[1] in now, now
        conns = _open_all(port, 12)
        counts = _per_process(port, now, 12)
        assert sum(counts) == 12 and max(counts) - min(counts) <= 2, counts
        assert proc.poll() is None, "the server keeps running"
    finally:
        for conn in conns:
            conn.close()
        servers.stop(proc)


def _whole_answer(conn: socket.socket) -> bytes:
    """One HTTP answer read whole from ``conn``: its head, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"the connection closed mid-answer: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "the connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_upload_and_a_kept_alive_client_are_served_by_the_processes(tmp_path: Path) -> None:
    """A request's head is read by a process's event loop and its body by a request thread:
    an upload (a multipart body) comes through whole, and a kept-alive connection gets an
    answer to each of its requests."""
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    token = servers.token_for_owner(instance)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker", "--processes", "2"]
    proc = servers.start(args, instance, log)
    try:
        servers.wait_up(url, proc, log)
        photo = servers.variant(servers.BASES[0], 1)
        status, body = servers.upload(url, token, "p.jpg", photo)
        assert status in (200, 201), body
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            for _ in range(3):
                conn.sendall(REQUEST)
                assert _whole_answer(conn).startswith(b"HTTP/1.1 200")
    finally:
        servers.stop(proc)


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_worker_ends_with_the_server(tmp_path: Path, how: signal.Signals) -> None:
    """A service manager stops `consentcam serve` with SIGTERM (or kills it): its worker must
    not stay behind, still holding the queue and the models in memory."""
    instance = tmp_path / "instance"
    servers.init_instance(instance)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = servers.start(["serve", "--host", "127.0.0.1", "--port", str(port)], instance, log)
    try:
        servers.wait_up(url, proc, log)
        workers = servers.children(proc.pid)
        assert len(workers) == 1, workers
        os.kill(proc.pid, how)  # the server alone, not its process group
        proc.wait(timeout=60)
        wait_gone(workers, timeout=60)  # else the worker outlived the server
    finally:
        servers.kill_group(proc)
