"""The tests' shared URL builders and templates (tests/appcache.py) give what werkzeug's and
Jinja's own would."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Map, Rule

from tests import appcache


def _urls(app: Flask) -> dict[str, str]:
    """Every rule of the app built with sample values, as its URL map builds them."""
    adapter = app.url_map.bind("localhost")
    out = {}
    for rule in app.url_map.iter_rules():
        values = {
            arg: (7 if "Integer" in type(conv).__name__ else "x/ y")
            for arg, conv in rule._converters.items()
        }
        out[f"{rule.endpoint} {rule.rule}"] = adapter.build(
            rule.endpoint, {**values, "extra": "ä b"}, method=next(iter(rule.methods or {"GET"}))
        )
    return out


def _page(app: Flask, path: str) -> str:
    html = app.test_client().get(path).get_data(as_text=True)
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html)


@pytest.fixture
def own_app(app: Flask) -> Iterator[Flask]:
    """An app made with werkzeug's and Flask's own compiling, beside the shared one."""
    from consentcam.web import create_app

    appcache.uninstall()
    try:
        own = create_app(app.config.copy(), instance_path=app.instance_path)
        yield own
        own.extensions["runtime"].close()
    finally:
        appcache.install()


def test_every_route_of_the_app_builds_as_with_werkzeugs_own_builders(
    app: Flask, own_app: Flask
) -> None:
    cached = _urls(app)
    assert len(cached) > 100
    assert cached == _urls(own_app)


@pytest.mark.parametrize("path", ["/login", "/no-such-page", "/login?lang=sv"])
def test_pages_render_as_with_jinjas_own_compiling(app: Flask, own_app: Flask, path: str) -> None:
    from consentcam.web import create_app

    shared = _page(app, path)
    compiled = len(appcache._template_code)
    again = create_app(app.config.copy(), instance_path=app.instance_path)
    try:
        assert _page(again, path) == shared
    finally:
        again.extensions["runtime"].close()
    assert len(appcache._template_code) == compiled  # the second app compiled nothing
    assert compiled > 0
    assert _page(own_app, path) == shared


def test_rules_alike_but_for_their_defaults_get_builders_of_their_own() -> None:
    first = Map(
        [Rule("/page/<int:n>", endpoint="a"), Rule("/page/", endpoint="a", defaults={"n": 1})]
    )
    second = Map([Rule("/page/", endpoint="b", defaults={"n": 2})])
    assert first.bind("h").build("a", {"n": 1}) == "/page/"
    assert first.bind("h").build("a", {"n": 5}) == "/page/5"
    assert second.bind("h").build("b", {"n": 2}) == "/page/"
    assert second.bind("h").build("b", {"n": 2, "q": "ä"}) == "/page/?q=%C3%A4"
