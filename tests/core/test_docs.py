"""README documents every setting and every command, so nothing hides from the operator."""

from __future__ import annotations

from pathlib import Path

import click

from consentcam.cli import main
from consentcam.config import SETTINGS

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        full = f"{prefix} {name}".strip()
        found.extend(_commands(cmd, full) if isinstance(cmd, click.Group) else [full])
    return found


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in README]
    assert missing == []
    assert all(s.help.strip() for s in SETTINGS)


def test_every_command_is_in_the_readme() -> None:
    commands = _commands(main)
    assert "scan" in commands and "person add" in commands
    missing = [c for c in commands if f"`consentcam {c}`" not in README]
    assert missing == []
