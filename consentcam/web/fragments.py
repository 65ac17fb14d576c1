"""Rendered page parts remembered between requests until the data under them changes.

The busiest pages (the photo list, a person's page, the dashboard) spend most of their time in
queries, gate verdicts and templates whose result is the same for every visitor who reads them
before the next write. Each process keeps the rendered HTML of such a part and serves it again
while the data version (see services.freshness) is unchanged and the copy is younger than its
time limit, so a withdrawal, a confirmed face or a new upload shows on the very next request in
every process, and what changes with the clock alone (an expiring consent, a task falling
overdue) shows within seconds.

A part is kept per language and per role (owner or staff see different buttons), never per
person: nothing personal to the visitor goes into it. Forms inside a part carry a placeholder
instead of the CSRF token, which is put in for each visitor when the part is served.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy.orm as so
from flask import current_app, g, render_template
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from consentcam.services import freshness
from consentcam.web import db, runtime

#: Stands for the visitor's CSRF token in a remembered part (random per process, so no page
#: content can contain it by accident).
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"

T = TypeVar("T")


def version() -> tuple[Any, ...]:
    """The data version, read once per request however many parts and counts use it."""
    if "data_version" not in g:
        g.data_version = freshness.data_version(db())
    return g.data_version  # type: ignore[no-any-return]


def _ttl() -> float:
    return float(current_app.config.get("PAGE_CACHE_SECONDS", freshness.TTL_SECONDS))


def enabled() -> bool:
    return _ttl() > 0


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """A small answer, remembered like a page part (shared version stamp)."""
    if not enabled():
        return compute()
    return freshness.remembered(runtime().cache, key, db(), compute, ttl=_ttl(), version=version())


def counted(key: Hashable, count: Callable[[so.Session], T]) -> T:
    """``count(session)``: counts over many rows, remembered like :func:`remembered`.

    When counting is slow (a large instance), a change is counted again in the background and
    the page shows the last counts meanwhile, so a view after each change does not wait for a
    pass over every photo (see services.freshness.remembered).
    """
    if not enabled():
        return count(db())
    rt = runtime()

    def in_background() -> T:
        with rt.read_sessions() as session:
            return count(session)

    return freshness.remembered(
        rt.cache,
        key,
        db(),
        lambda: count(db()),
        ttl=_ttl(),
        version=version(),
        background=in_background,
    )


def part(name: str, key: Hashable, template: str, context: Callable[[], dict[str, Any]]) -> Markup:
    """``template`` rendered with ``context()``, or the remembered rendering of it.

    ``key`` names what the part shows (e.g. the filter and page number); the language and the
    visitor's role are added here.
    """
    from consentcam.web import select_locale

    owner = bool(getattr(current_user, "is_owner", False))
    full_key = ("part", name, key, select_locale(), owner)

    def render() -> str:
        return render_template(template, csrf_placeholder=CSRF_PLACEHOLDER, **context())

    html: str = remembered(full_key, render)
    if CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, generate_csrf())
    return Markup(html)  # noqa: S704 - rendered by our own autoescaping templates
