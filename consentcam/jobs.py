"""Background work on huey: photo scans, publishing and API removals.

Huey is built from the instance settings at start-up (SQLite file by default, Redis for several
machines, or `immediate` for tests), so nothing here runs at import time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

# Each module has `register(jobs)` that declares its tasks.
TASK_MODULES = (
    "consentcam.services.scanning",
    "consentcam.services.marking",
    "consentcam.services.enrolment",
    "consentcam.services.removals",
    "consentcam.services.publishing",
    "consentcam.services.audit",
    "consentcam.services.mail",
)


def make_huey(queue_url: str, name: str = "consentcam") -> Huey:
    """Return the huey instance for a QUEUE_URL setting."""
    if queue_url == "immediate":
        return MemoryHuey(name, immediate=True)
    if queue_url.startswith("sqlite:///"):
        return SqliteHuey(name, filename=queue_url[len("sqlite:///") :], fsync=True)
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=queue_url)
    raise ValueError(
        f"QUEUE_URL {queue_url!r}: use sqlite:///path, redis://host:port/db or immediate"
    )


class Jobs:
    """The app's task functions, registered on one huey instance."""

    def __init__(self, app: Flask, huey: Huey) -> None:
        self.app = app
        self.huey = huey
        self.tasks: dict[str, TaskWrapper] = {}

    def task(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], TaskWrapper]:
        """Register `fn(app, *args)` as a huey task named `name`."""

        def decorator(fn: Any) -> TaskWrapper:
            app = self.app

            def run(*args: Any, **kwargs: Any) -> Any:
                with app.app_context():
                    _follow_settings(app)
                    return fn(app, *args, **kwargs)

            run.__name__ = name
            wrapper = self.huey.task(name=name, **options)(run)
            self.tasks[name] = wrapper
            return wrapper

        return decorator

    def periodic(self, name: str, schedule: Any, fn: Any) -> None:
        """Run `fn(app)` on a huey crontab schedule (e.g. `crontab(minute="*")`)."""
        app = self.app

        def run() -> Any:
            with app.app_context():
                _follow_settings(app)
                return fn(app)

        run.__name__ = name
        self.tasks[name] = self.huey.periodic_task(schedule, name=name)(run)

    def enqueue(self, name: str, *args: Any) -> Any:
        return self.tasks[name](*args)


def _follow_settings(app: Flask) -> None:
    """Before a job: take in settings the owner saved in the web process since this one started."""
    from consentcam.services.settings import follow_config_file

    runtime = app.extensions.get("runtime")
    if runtime is not None:
        app.config.update(follow_config_file(runtime))


def init_app(app: Flask) -> Jobs:
    # QUEUE_NAME lets several instances (or test runs) share one Redis database.
    huey = make_huey(app.config["QUEUE_URL"], app.config.get("QUEUE_NAME") or "consentcam")
    jobs = Jobs(app, huey)
    app.extensions["jobs"] = jobs
    for module_name in TASK_MODULES:
        importlib.import_module(module_name).register(jobs)
    return jobs


def on_worker_start(app: Flask) -> dict[str, int]:
    """Ready a (re)started worker: sweep a killed process's leftovers, queue lost work again.

    Also queues the backfill of the audit's small photo copies until a pass has finished.
    Returns how many files were swept (``swept``) and how many unfinished scans (``scans``)
    and open API removals (``removals``) were queued again.
    """
    from consentcam.services import mail, removals, scanning
    from consentcam.services.sweeper import sweep

    rt = app.extensions["runtime"]
    swept = 0
    try:
        with rt.sessions() as session:
            swept = sweep(session, rt).removed
    except Exception:  # housekeeping must never keep the worker from starting
        log.exception("the sweep at worker start failed; starting anyway")
    # A worker killed mid-job leaves its rows in progress: nobody else would pick them up.
    scans = scanning.requeue_unfinished(app)
    api_removals = removals.requeue_open_api_tasks(app)
    try:
        mail.requeue_unsent(app)
    except Exception:  # housekeeping must never keep the worker from starting
        log.exception("could not queue the unsent e-mails again; starting anyway")
    # Small audit copies of photos stored before upload made them, in batches behind the scans;
    # once a pass has finished, upload makes them all and there is nothing to walk again.
    from consentcam.services.audit import backfill_done_marker

    if not backfill_done_marker(rt).exists():
        try:
            app.extensions["jobs"].enqueue("backfill_audit_minis", 0)
        except Exception:
            log.exception("could not queue the backfill of audit thumbnails; starting anyway")
    return {"swept": swept, "scans": scans, "removals": api_removals}


def get_jobs(app: Flask) -> Jobs:
    return app.extensions["jobs"]  # type: ignore[no-any-return]
