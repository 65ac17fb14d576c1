"""What every command shares: the instance folder, its Runtime, and the face-model check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consentcam import config as config_mod

if TYPE_CHECKING:
    from consentcam.runtime import Runtime


class Context:
    def __init__(self, instance: Path) -> None:
        self.instance = instance
        self._rt: Runtime | None = None

    def runtime(self, queue: bool = True) -> Runtime:
        """The instance's Runtime, built on first use.

        With ``queue`` the job queue is started too, so that background work a command's
        unit of work hands to `consentcam.uow.later` is queued for the worker after the commit.
        """
        if self._rt is None:
            if not (self.instance / config_mod.CONFIG_FILE).exists():
                raise click.ClickException(
                    f"no instance at {self.instance}: run `consentcam init` first "
                    "(or set CONSENTCAM_INSTANCE / --instance)"
                )
            from consentcam.runtime import Runtime

            self._rt = Runtime.build(self.instance)
        if queue and self._rt.jobs is None:
            from consentcam import jobs

            jobs.start(self._rt)
        return self._rt

    def close(self) -> None:
        """Return the database connections when the command ends (also under test runners)."""
        if self._rt is not None:
            self._rt.close()
            self._rt = None


# Typed, so that the commands stay typed under it.
pass_ctx: Callable[[Callable[..., Any]], Callable[..., Any]] = click.make_pass_decorator(Context)


def require_engine(load: bool = True) -> None:
    """Stop with one clear message when the face models cannot be loaded (or found, without load).

    Both models a scan needs: dlib's (landmarks and encodings) and BlazeFace's (detection).
    """
    from consentcam.faces.blazeface import get_detector, locate_model
    from consentcam.faces.engine import EngineUnavailable, get_engine, locate_models

    try:
        if load:
            get_engine().load()
            get_detector().load()
        else:
            locate_models()
            locate_model()
    except EngineUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
