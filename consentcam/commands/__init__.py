"""The subcommands of `consentcam`, one module per area; `register` adds them all to the group."""

from __future__ import annotations

import importlib

import click

#: Modules with `register(main)`, in the order their commands were written.
MODULES = (
    "consentcam.commands.setup",
    "consentcam.commands.serve",
    "consentcam.commands.scan",
    "consentcam.commands.people",
    "consentcam.commands.audit",
    "consentcam.commands.photos",
    "consentcam.commands.maintenance",
)


def register(main: click.Group) -> None:
    """Add every command to the `consentcam` group."""
    for name in MODULES:
        importlib.import_module(name).register(main)
