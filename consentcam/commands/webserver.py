"""Several web processes under gunicorn (`consentcam serve --processes N`, POSIX only).

gunicorn's master keeps N worker processes listening on one socket and starts a new one when
one dies. Each worker is a `gthread` worker (a thread pool for requests, one event loop for
idle connections) with two changes for a server that faces clients directly:

- A request's head (request line and header fields) is read by the event loop, not by a
  thread: a thread is given the connection only once the whole head is there. A client that
  sends half a header, slowly or never, holds no thread; after HEAD_TIMEOUT it is closed.
- At the connection limit the idlest connections are closed instead of no longer accepting:
  first those still sending their head (oldest first), then kept-alive idle ones (longest
  unused first). A request being answered or a body being uploaded is never closed.

And only the least busy worker accepts the next connection (see Balance).
"""

from __future__ import annotations

import errno
import multiprocessing
import selectors
import time
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn import http
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

#: Seconds a connection may take to send a request's head before it is closed.
HEAD_TIMEOUT = 30.0
#: Seconds a request's thread waits for the next bytes of a body (or for the client to take
#: the next bytes of the answer) before it gives the connection up.
IO_TIMEOUT = 30.0
#: A head not finished within this many bytes goes to the parser, which refuses it.
MAX_HEAD = 64 * 1024
#: How often a worker that leaves new connections to a less busy one looks again.
BALANCE_INTERVAL = 0.02


def settings(host: str, port: int, threads: int, processes: int, limit: int) -> dict[str, Any]:
    """gunicorn's settings for `consentcam serve --processes N` (README: Running it)."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": processes,
        "worker_class": Worker,
        "threads": threads,
        # Open connections per process (idle kept-alive ones cost no thread).
        "worker_connections": limit,
        "backlog": 1024,
        # A kept-alive browser connection stays open 30 s without a request (as with waitress).
        "keepalive": 30,
        # A worker whose main loop is silent this long is stuck: the master replaces it. Slow
        # requests do not count (the loop runs beside the request threads).
        "timeout": 60,
        # On SIGTERM (a restart or stop) requests in progress get this long to finish.
        "graceful_timeout": 30,
        # gunicorn's limits on the head, stated so the README can name them.
        "limit_request_line": 4094,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "http_protocols": "h1",
        "control_socket_disable": True,
        "proc_name": "consentcam",
    }


class Balance:
    """Open connections per worker, in memory shared by the master and every worker it forks.

    All workers accept on one listening socket and the kernel wakes them together; whichever
    runs first takes the connection. Browsers and load balancers keep connections open and send
    request after request on them, so an early imbalance (11 connections on one process, 5 on
    the other was seen under 16 clients) lasts, and the busier process's queue sets the tail
    latency while the other has idle time. Each worker publishes its count before every wait
    and listens only while no other worker has fewer, so the least busy always accepts.
    """

    def __init__(self, slots: int) -> None:
        self.used = multiprocessing.RawArray("b", slots)
        self.load = multiprocessing.RawArray("i", slots)

    def take(self) -> int:
        """A free slot for a worker about to be forked (in the master, one thread)."""
        for index, used in enumerate(self.used):
            if not used:
                self.used[index] = 1
                self.load[index] = 0
                return index
        return -1  # more workers than slots: this one accepts whenever it can

    def free(self, index: int) -> None:
        """A worker ended: its count no longer holds the others back."""
        if index >= 0:
            self.used[index] = 0

    def may_accept(self, index: int, mine: int) -> bool:
        """Publish ``mine`` and say whether no other worker has fewer (one of slack)."""
        if index < 0:
            return True
        self.load[index] = mine
        others = [self.load[i] for i, used in enumerate(self.used) if used and i != index]
        return not others or mine <= min(others) + 1


class Conn(TConn):  # type: ignore[misc]
    """A connection whose head is gathered by the event loop before a thread takes it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.head = bytearray()
        self.head_deadline = 0.0

    def init(self) -> None:
        super().init()
        # Blocking reads and writes in a request's thread end after IO_TIMEOUT without progress.
        self.sock.settimeout(IO_TIMEOUT)


class Worker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, reading heads in its event loop and evicting idle connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Connections still sending their head, in the order they started it.
        self.heads: dict[Conn, None] = {}
        self.held_back = False

    # -- accepting ------------------------------------------------------------------------------

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        self._await_head(Conn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn: Conn, client: Any) -> None:
        """A kept-alive connection sends its next request: gather its head like a new one's."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn)

    def set_accept_enabled(self, enabled: bool) -> None:
        slot = getattr(self.app, "slots", {}).get(self.age, -1)
        balance: Balance | None = getattr(self.app, "balance", None)
        fair = balance is None or balance.may_accept(slot, self.nr_conns)
        self.held_back = enabled and not fair
        super().set_accept_enabled(enabled and fair)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Before each wait: make room at the limit, and ask again who should accept."""
        if self.alive:
            self._make_room()
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
        else:
            # Stopping: a head not yet complete gets as long as a kept-alive connection.
            self.held_back = False
            latest = time.monotonic() + STOP_KEEPALIVE_LINGER
            for conn in self.heads:
                conn.head_deadline = min(conn.head_deadline, latest)
        super().wait_for_and_dispatch_events(BALANCE_INTERVAL if self.held_back else timeout)

    # -- heads ----------------------------------------------------------------------------------

    def _await_head(self, conn: Conn) -> None:
        conn.head.clear()
        conn.head_deadline = time.monotonic() + HEAD_TIMEOUT
        self.heads[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))
        self._read_head(conn, conn.sock)  # a kept-alive client may have sent it already

    def _read_head(self, conn: Conn, sock: Any) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.head += data
        if b"\r\n\r\n" in conn.head or b"\n\n" in conn.head or len(conn.head) >= MAX_HEAD:
            self._forget_head(conn)
            self._hand_over(conn)

    def _hand_over(self, conn: Conn) -> None:
        """The head is complete: give the connection, head and all, to a request thread."""
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        unreader = conn.parser.unreader
        unreader.unread(unreader.take_buffered() + bytes(conn.head))
        conn.head.clear()
        conn.data_ready = True
        self.enqueue_req(conn)

    def _forget_head(self, conn: Conn) -> None:
        self.heads.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _close(self, conn: Conn) -> None:
        self._forget_head(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also close the connections whose head did not come within HEAD_TIMEOUT."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.heads if c.head_deadline <= now]:
            self._close(conn)

    # -- the connection limit -------------------------------------------------------------------

    def _make_room(self) -> None:
        """At the limit, close the longest-waiting tenth of the connections nobody is answered on."""
        if self.nr_conns < self.worker_connections:
            return
        count = max(1, self.worker_connections // 10)
        victims: list[Conn] = list(self.heads)[:count]
        for conn in victims:
            self._close(conn)
        while len(victims) < count and self.keepalived_conns:
            conn = self.keepalived_conns.popleft()
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            self.nr_conns -= 1
            conn.close()
            victims.append(conn)


class WebApplication(BaseApplication):  # type: ignore[misc]
    """The consentcam web app under gunicorn: each worker builds its own app after the fork."""

    def __init__(self, instance: Path, options: dict[str, Any]) -> None:
        self.instance = instance
        self.options = options
        self.balance = Balance(2 * int(options["workers"]))
        #: Each live worker's Balance slot, by the worker's age (its number in the master).
        self.slots: dict[int, int] = {}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("pre_fork", self._pre_fork)
        self.cfg.set("child_exit", self._child_exit)

    def _pre_fork(self, _arbiter: Any, worker: Any) -> None:
        self.slots[worker.age] = self.balance.take()

    def _child_exit(self, _arbiter: Any, worker: Any) -> None:
        self.balance.free(self.slots.pop(worker.age, -1))

    def load(self) -> Any:
        from consentcam.web import create_app

        return create_app(instance_path=self.instance)


def serve_processes(
    instance: Path, host: str, port: int, threads: int, processes: int, connection_limit: int
) -> None:
    """Serve the app from ``processes`` gunicorn workers until stopped (SIGTERM, SIGINT)."""
    options = settings(host, port, threads, processes, connection_limit)
    WebApplication(instance, options).run()
