"""The tests' shared URL builders (tests/routing_cache.py) build what werkzeug's own would."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Map, Rule

from tests import routing_cache


def _urls(app: Any) -> dict[str, str]:
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


def test_every_route_of_the_app_builds_as_with_werkzeugs_own_builders(app: Any) -> None:
    cached = _urls(app)
    from consentcam.web import create_app

    Rule._compile_builder = routing_cache._compile_builder  # type: ignore[method-assign]
    try:
        own = create_app(app.config.copy(), instance_path=app.instance_path)
        try:
            fresh = _urls(own)
        finally:
            own.extensions["runtime"].close()
    finally:
        routing_cache.install()
    assert len(cached) > 100
    assert cached == fresh


def test_rules_alike_but_for_their_defaults_get_builders_of_their_own() -> None:
    first = Map(
        [Rule("/page/<int:n>", endpoint="a"), Rule("/page/", endpoint="a", defaults={"n": 1})]
    )
    second = Map([Rule("/page/", endpoint="b", defaults={"n": 2})])
    assert first.bind("h").build("a", {"n": 1}) == "/page/"
    assert first.bind("h").build("a", {"n": 5}) == "/page/5"
    assert second.bind("h").build("b", {"n": 2}) == "/page/"
    assert second.bind("h").build("b", {"n": 2, "q": "ä"}) == "/page/?q=%C3%A4"
