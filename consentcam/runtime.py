"""What every use case needs besides its session: settings, file storage, the vault and sessions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import sqlalchemy.orm as so

from consentcam import config as config_mod
from consentcam.crypto import Vault
from consentcam.db import make_engine, make_sessionmaker
from consentcam.storage import Storage


class TaskQueue(Protocol):
    """What the services see of the job queue (`consentcam.jobs.Jobs`): register and queue tasks."""

    rt: Runtime

    def task(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register `fn(rt, *args)` as the task `name` (a decorator)."""

    def periodic(self, name: str, schedule: Any, fn: Callable[..., Any]) -> None:
        """Run `fn(rt)` on a schedule."""

    def enqueue(self, name: str, *args: Any) -> Any:
        """Queue task `name` now."""

    def schedule(self, name: str, args: tuple[Any, ...], delay: float) -> Any:
        """Queue task `name` to run once `delay` seconds have passed."""


@dataclass
class Runtime:
    settings: dict[str, Any]
    instance_path: Path
    engine: sa.Engine
    sessions: so.sessionmaker[so.Session]
    read_sessions: so.sessionmaker[so.Session]
    storage: Storage
    vault: Vault
    cache: dict[str, Any] = field(default_factory=dict)
    #: The background job queue (consentcam.jobs.Jobs) once one is started in this process.
    jobs: TaskQueue | None = None

    @classmethod
    def build(cls, instance_path: Path, overrides: dict[str, Any] | None = None) -> Runtime:
        stamp = config_mod.file_stamp(instance_path)  # before reading: a later save is seen
        settings = config_mod.load(instance_path, overrides)
        engine = make_engine(settings["DATABASE_URL"])
        rt = cls(
            settings=settings,
            instance_path=instance_path,
            engine=engine,
            sessions=make_sessionmaker(engine),
            # Reads share the pool but start DEFERRED on SQLite, so they never queue behind writers.
            read_sessions=make_sessionmaker(engine.execution_options(sqlite_begin="DEFERRED")),
            storage=Storage(settings["MEDIA_DIR"]),
            vault=Vault(settings.get("ENCRYPTION_KEY") or ""),
        )
        rt.cache[config_mod.STAMP_KEY] = stamp
        return rt

    def queue(self) -> TaskQueue:
        """The job queue, for code that runs only where one was started (the worker's tasks)."""
        if self.jobs is None:
            raise RuntimeError("no job queue was started in this process")
        return self.jobs

    def close(self) -> None:
        self.engine.dispose()
