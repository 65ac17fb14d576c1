"""The pages' answer to a look-up that found nothing: the "not found" page."""

from __future__ import annotations

from typing import TypeVar

from flask import abort

T = TypeVar("T")


def or_404(row: T | None) -> T:
    """The row a page's look-up found; the "not found" page when it found none."""
    if row is None:
        abort(404)
    return row
