"""URLs for many rows of a page: the URL map asked once, not once a row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, url_for

#: An id no row has: its URL is built once per page, and each tile's by putting its id in.
_MARK = 2_147_000_001


def id_url(endpoint: str, key: str) -> Callable[[int], str]:
    """``url_for(endpoint, key=id)`` for many ids, with the URL map asked once."""
    values: dict[str, Any] = {key: _MARK}
    pattern = url_for(endpoint, **values)
    head, sep, tail = pattern.partition(str(_MARK))
    if not sep or str(_MARK) in tail:
        return lambda value: url_for(endpoint, **{**values, key: value})
    return lambda value: f"{head}{value}{tail}"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["id_url"] = id_url
