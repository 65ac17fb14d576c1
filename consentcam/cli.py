"""The `consentcam` command: set up an instance, run it, and work with photos and people.

Each area's commands live in a module of consentcam.commands; this module is the group that
holds them all (the `consentcam` entry point).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from consentcam.commands import register
from consentcam.commands.context import Context, pass_ctx, require_engine
from consentcam.commands.serve import IDLE_POLL_SECONDS, SERVER_LIMITS

__all__ = ["IDLE_POLL_SECONDS", "SERVER_LIMITS", "Context", "main", "pass_ctx", "require_engine"]


@click.group()
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CONSENTCAM_INSTANCE",
    default="instance",
    show_default=True,
    help="The instance folder (config, database, media).",
)
@click.pass_context
def main(ctx: click.Context, instance: Path) -> None:
    """consentcam: no face goes online without a signed permission."""
    # Everything the app creates (database, WAL, queue, media, reports) is its user's alone.
    previous = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous))
    ctx.obj = Context(instance.resolve())
    ctx.call_on_close(ctx.obj.close)


register(main)


def run() -> None:
    main(prog_name="consentcam")


if __name__ == "__main__":  # pragma: no cover
    run()
