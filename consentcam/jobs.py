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
    from consentcam.runtime import Runtime

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
    "consentcam.services.photo_state",
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
    """The app's task functions, registered on one huey instance; each runs with the Runtime."""

    def __init__(self, rt: Runtime, huey: Huey) -> None:
        self.rt = rt
        self.huey = huey
        self.tasks: dict[str, TaskWrapper] = {}

    def task(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register `fn(rt, *args)` as a huey task named `name`."""

        def decorator(fn: Any) -> TaskWrapper:
            rt = self.rt

            def run(*args: Any, **kwargs: Any) -> Any:
                _follow_settings(rt)
                return fn(rt, *args, **kwargs)

            run.__name__ = name
            wrapper = self.huey.task(name=name, **options)(run)
            self.tasks[name] = wrapper
            return wrapper

        return decorator

    def periodic(self, name: str, schedule: Any, fn: Any) -> None:
        """Run `fn(rt)` on a huey crontab schedule (e.g. `crontab(minute="*")`)."""
        rt = self.rt

        def run() -> Any:
            _follow_settings(rt)
            return fn(rt)

        run.__name__ = name
        self.tasks[name] = self.huey.periodic_task(schedule, name=name)(run)

    def enqueue(self, name: str, *args: Any) -> Any:
        return self.tasks[name](*args)

    def schedule(self, name: str, args: tuple[Any, ...], delay: float) -> Any:
        """Run task `name` with `args` once `delay` seconds have passed."""
        return self.tasks[name].schedule(args=args, delay=delay)


def _follow_settings(rt: Runtime) -> None:
    """Before a job: take in settings the owner saved in the web process since this one started."""
    from consentcam.services.settings import follow_config_file

    follow_config_file(rt)


def start(rt: Runtime) -> Jobs:
    """Build the job queue from the settings, register every task and attach it to `rt`."""
    # QUEUE_NAME lets several instances (or test runs) share one Redis database.
    huey = make_huey(rt.settings["QUEUE_URL"], rt.settings.get("QUEUE_NAME") or "consentcam")
    jobs = Jobs(rt, huey)
    rt.jobs = jobs
    for module_name in TASK_MODULES:
        importlib.import_module(module_name).register(jobs)
    return jobs


def on_worker_start(rt: Runtime) -> dict[str, int]:
    """Ready a (re)started worker: sweep a killed process's leftovers, queue lost work again.

    Also queues the backfill of the audit's small photo copies until a pass has finished.
    Returns how many files were swept (``swept``) and how many unfinished scans (``scans``)
    and open API removals (``removals``) were queued again.
    """
    from consentcam.services import mail, removals, scanning
    from consentcam.services.sweeper import sweep
    from consentcam.uow import unit_of_work

    swept = 0
    try:
        with unit_of_work(rt) as session:
            swept = sweep(session, rt).removed
    except Exception:  # housekeeping must never keep the worker from starting
        log.exception("the sweep at worker start failed; starting anyway")
    # A worker killed mid-job leaves its rows in progress: nobody else would pick them up.
    scans = scanning.requeue_unfinished(rt)
    api_removals = removals.requeue_open_api_tasks(rt)
    try:
        mail.requeue_unsent(rt)
    except Exception:  # housekeeping must never keep the worker from starting
        log.exception("could not queue the unsent e-mails again; starting anyway")
    _queue_backfill(rt)
    return {"swept": swept, "scans": scans, "removals": api_removals}


def _queue_backfill(rt: Runtime) -> None:
    """Small audit copies of photos stored before upload made them, in batches behind the scans.

    Once a pass has finished, upload makes them all and there is nothing to walk again.
    """
    from consentcam.services.audit import backfill_done_marker

    if backfill_done_marker(rt).exists():
        return
    try:
        rt.queue().enqueue("backfill_audit_minis", 0)
    except Exception:
        log.exception("could not queue the backfill of audit thumbnails; starting anyway")
