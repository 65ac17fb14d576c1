"""Reuse werkzeug's compiled URL builders across the apps one test process makes.

Most tests make their own Flask app, and each app adds the same ~130 URL rules. For each rule
werkzeug generates and compiles two small Python functions (the URL builders), which is about
nine tenths of what `create_app` costs. A builder depends only on the rule's parsed parts, its
defaults and whether unknown values are appended, and takes the rule itself as its first
argument, so the same compiled function serves every app's copy of the rule. The app never
loads this module; tests/conftest.py installs it for the test processes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_builders: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _shared_builder(rule: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    defaults = rule.defaults or {}
    key = (rule.rule, tuple(rule._trace), repr(sorted(defaults.items())), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(rule, append_unknown)
    return builder


def install() -> None:
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
