"""Running the app: `consentcam serve` (web server and worker) and `consentcam worker`.

One web process is served by waitress (pure Python, on every platform); several are served by
gunicorn (consentcam.commands.webserver, POSIX only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from consentcam.commands.context import Context, pass_ctx, require_engine

#: waitress limits of `consentcam serve`: a connection idle for 30 s is closed (waitress: 120 s),
#: checked every 5 s (30 s); 200 connections per process (100). See EvictingServer.
SERVER_LIMITS: dict[str, int] = {
    "connection_limit": 200,
    "channel_timeout": 30,
    "cleanup_interval": 5,
    "backlog": 1024,
}

#: Longest wait of an idle worker between two looks at the job queue.
IDLE_POLL_SECONDS = 1.0


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes sharing the port (one per core serves pages in parallel; POSIX only).",
)
@click.option(
    "--connection-limit",
    default=SERVER_LIMITS["connection_limit"],
    show_default=True,
    type=click.IntRange(10, 10_000),
    help="Open connections per process; when full, the longest-waiting idle ones are closed.",
)
@click.option("--no-worker", is_flag=True, help="Do not start the background worker.")
@pass_ctx
def serve(
    ctx: Context,
    host: str,
    port: int,
    threads: int,
    processes: int,
    connection_limit: int,
    no_worker: bool,
) -> None:
    """Run the web app (waitress; gunicorn with --processes N) with a background worker beside it."""
    from consentcam.db import upgrade
    from consentcam.storage import make_private

    # The web process only checks the models are there: dlib is loaded by the worker alone.
    require_engine(load=False)
    rt = ctx.runtime(queue=False)
    upgrade(rt.engine)
    make_private(ctx.instance)  # an instance made before this version: its files too
    # Connections made here must not be shared with the web processes or the worker.
    rt.engine.dispose()
    worker = None if no_worker else _start_worker(ctx.instance)
    click.echo(f"consentcam on http://{host}:{port}/ (instance {ctx.instance})")
    # A service manager stops the server with SIGTERM, which would end Python at once and skip
    # stopping the worker below; as an exit instead, the server closes down and `finally` runs.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if processes > 1:
            from consentcam.commands.webserver import serve_processes

            serve_processes(ctx.instance, host, port, threads, processes, connection_limit)
        else:
            _serve_one(ctx.instance, host, port, threads, connection_limit)
    finally:
        if worker is not None:
            _stop_worker(worker)


def _start_worker(instance: Path) -> subprocess.Popen[bytes]:
    """The worker is its own process, so face detection never runs in a web thread."""
    env = dict(os.environ, CONSENTCAM_INSTANCE=str(instance))
    return subprocess.Popen(
        [sys.executable, "-m", "consentcam", "worker"], env=env, preexec_fn=_end_with_parent
    )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def _serve_one(instance: Path, host: str, port: int, threads: int, connection_limit: int) -> None:
    """One waitress process: the default, on every platform."""
    from consentcam.commands.waitress_server import EvictingServer
    from consentcam.web import create_app

    app = create_app(instance_path=instance)
    server = EvictingServer(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="consentcam",
        **{**SERVER_LIMITS, "connection_limit": connection_limit},
    )
    server.run()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _end_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send the worker SIGTERM when `consentcam serve` dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@click.command()
@click.option(
    "--workers", "-w", default=None, type=int, help="Worker processes (default: WORKERS)."
)
@pass_ctx
def worker(ctx: Context, workers: int | None) -> None:
    """Run background jobs (scans, publishing, removals) until stopped."""
    from huey.consumer import Consumer

    from consentcam import jobs

    require_engine()
    rt = ctx.runtime()
    queue = rt.queue()
    assert isinstance(queue, jobs.Jobs)  # the context starts the app's own queue
    count = workers or int(rt.settings.get("WORKERS") or 1)
    consumer = Consumer(
        queue.huey,
        workers=count,
        worker_type="process" if count > 1 else "thread",
        periodic=True,
        # An idle worker asks the queue for work at least once a second (huey's default backs
        # off to 10 s), so a photo uploaded after a quiet spell starts scanning at once.
        max_delay=IDLE_POLL_SECONDS,
    )
    counts = jobs.on_worker_start(rt)
    click.echo(
        f"worker ready: swept {counts['swept']} leftover file(s), queued again "
        f"{counts['scans']} unfinished scan(s) and {counts['removals']} API removal(s)",
        err=True,
    )
    if count > 1:
        # The worker processes are forked from this one. The start-up above left an open
        # database connection in the pool; a forked child must not use its parent's SQLite
        # connection, so close them here and let each worker open its own.
        rt.engine.dispose()
    consumer.run()


def register(main: click.Group) -> None:
    """Add these commands to the `consentcam` group."""
    main.add_command(serve)
    main.add_command(worker)
