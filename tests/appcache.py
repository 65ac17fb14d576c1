"""What every app a test process makes would compile again: URL builders and templates.

Most tests make their own Flask app. Each app adds the same ~130 URL rules, and for each rule
werkzeug generates and compiles two small Python functions (the URL builders); each app also
has its own Jinja environment, which compiles every template it renders again. Together that was
most of the CPU of a short test. Within one test process both are compiled once and shared:

- a URL builder depends only on the rule's parsed parts, its defaults and whether unknown values
  are appended, and takes the rule itself as its first argument, so one compiled function
  serves every app's copy of the rule;
- a template's compiled code is kept by its name, its source's checksum and the environment's
  options that change what the compiler writes (Jinja's own bytecode cache interface).

The app never loads this module; tests/conftest.py installs it for the test processes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any

import jinja2
from flask import Flask
from flask.templating import Environment
from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_builders: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}
_create_jinja_environment = Flask.create_jinja_environment
_template_code: dict[tuple[Any, ...], CodeType] = {}


def _shared_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    defaults = self.defaults or {}
    key = (self.rule, tuple(self._trace), repr(sorted(defaults.items())), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(self, append_unknown)
    return builder


class _SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled templates kept in memory for every environment with the same options."""

    def __init__(self, options: tuple[Any, ...]) -> None:
        self.options = options

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = _template_code.get((self.options, bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is not None:
            _template_code[(self.options, bucket.key, bucket.checksum)] = bucket.code


def _options(env: jinja2.Environment) -> tuple[Any, ...]:
    """What, besides the source, decides the code Jinja compiles a template to."""
    autoescape = env.autoescape
    return (
        tuple(sorted(env.extensions)),
        env.block_start_string,
        env.variable_start_string,
        env.comment_start_string,
        env.line_statement_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        getattr(autoescape, "__qualname__", autoescape),
        getattr(env, "newstyle_gettext", None),
    )


def _environment_sharing_code(self: Flask) -> Environment:
    env = _create_jinja_environment(self)
    env.bytecode_cache = _SharedTemplateCode(_options(env))
    return env


# Replacing a library's method is what this module is for: mypy's method-assign says just that.
def install() -> None:
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
    Flask.create_jinja_environment = _environment_sharing_code  # type: ignore[method-assign]


def uninstall() -> None:
    """werkzeug's and Flask's own again (for a test that compares with them)."""
    Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
    Flask.create_jinja_environment = _create_jinja_environment  # type: ignore[method-assign]
