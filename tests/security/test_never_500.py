"""Hypothesis against every route: any query, form or JSON field, any value, never a 500.

The field names are read from the app itself: every WTForms form's fields, every
``request.args/form/values.get("...")`` in the web package, and every property of the API's
OpenAPI document. Each route (web and API, signed in as the owner) gets generated requests that
fill some of those fields with hostile values: Unicode digits, huge and negative numbers, NUL
and control characters, line breaks, bidi marks, wildcards, long text, nested JSON.
"""

from __future__ import annotations

import inspect
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from consentcam.web import BLUEPRINTS
from tests.conftest import login
from tests.hardening.helpers import owner_token
from tests.web.photo_helpers import person_with_consent, photo_with_faces

pytestmark = pytest.mark.slow

WEB = Path(__file__).parents[2] / "consentcam" / "web"
FIELD_IN_SOURCE = re.compile(
    r"request\.(?:args|form|values|files)\.(?:get|getlist)\(\s*[\"']([a-z_][a-z0-9_]*)[\"']"
)
#: Routes whose answer is a redirect away (sign-out) or that end the test's own session.
SKIP = {"auth.logout", "auth.logout_everywhere", "auth.end_session", "auth.password"}
#: Each of a route's own fields gets each of these, besides the generated requests. (A route
#: that reads no field of its own gets the generated requests over every field.)
PROBES = ("²", "\x00", "99999999999999999999", "\r\n/evil")

HOSTILE = st.sampled_from(
    [
        "",
        "²",
        "٣",
        "１２",
        "-1",
        "0",
        "99999999999999999999",
        str(2**31),
        "1e9",
        "NaN",
        "\x00",
        "a\x00b",
        "\r\nSet-Cookie: x=1",
        "/\t/evil.example",
        "//evil.example",
        "%",
        "_",
        "%_%",
        "\u202eevil",
        '=HYPERLINK("x")',
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "../../etc/passwd",
        "instagram",
        "facebook",
        "all",
        "true",
        "y",
        "2026-13-45",
        "2026-11-28T10:00:00",
        "x" * 5000,
    ]
)
VALUES = st.one_of(HOSTILE, st.text(max_size=40))
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        VALUES,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _form_fields() -> set[str]:
    import importlib

    names: set[str] = set()
    for module_name in BLUEPRINTS:
        module = importlib.import_module(module_name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, FlaskForm) and obj is not FlaskForm:
                for attr, value in vars(obj).items():
                    if hasattr(value, "field_class"):
                        names.add(attr)
    for path in WEB.rglob("*.py"):
        names.update(FIELD_IN_SOURCE.findall(path.read_text("utf-8")))
    return names


def _form_classes() -> dict[str, type[FlaskForm]]:
    import importlib

    found: dict[str, type[FlaskForm]] = {}
    for module_name in BLUEPRINTS:
        module = importlib.import_module(module_name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, FlaskForm) and obj is not FlaskForm:
                found[name] = obj
    return found


def _fields_of(view: Callable[..., Any], forms: dict[str, type[FlaskForm]]) -> set[str]:
    """The fields one view reads: request.* names in its source and its forms' fields."""
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return set()
    names = set(FIELD_IN_SOURCE.findall(source))
    names.update(re.findall(r"\bbody\.get\(\s*[\"']([a-z_][a-z0-9_]*)[\"']", source))
    names.update(re.findall(r"\bbody\[[\"']([a-z_][a-z0-9_]*)[\"']\]", source))
    for name, form in forms.items():
        if re.search(rf"\b{name}\(", source):
            names.update(a for a, v in vars(form).items() if hasattr(v, "field_class"))
    return names


def _api_fields(client: FlaskClient, token: str) -> set[str]:
    spec = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}).json
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    names.update(value)
                if key == "parameters" and isinstance(value, list):
                    names.update(p.get("name", "") for p in value if isinstance(p, dict))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(spec)
    return {n for n in names if n}


def _url(rule: Rule) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        converter = rule._converters.get(arg)
        kind = type(converter).__name__ if converter else ""
        values[arg] = 1 if "Integer" in kind else ("instagram" if arg == "channel" else "x")
    if rule.endpoint == "audits.download":
        values["fmt"] = "csv"
    built = rule.build(values, append_unknown=False)
    assert built is not None
    return built[1]


@pytest.fixture
def seeded(app: Flask, users: dict[str, int]) -> Flask:
    """One of each thing, so that routes with id 1 reach their real code."""
    from consentcam.models import QueueItem

    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        person = person_with_consent(rt, s, "Anna Berg")
        photo = photo_with_faces(rt, s, 2)
        photo.faces[0].person_id = person.id
        s.add(QueueItem(photo_id=photo.id, channels="instagram", status="blocked", blockers="[]"))
        s.commit()
    return app


#: The routes are fuzzed in this many parts, each a test of its own (run side by side by xdist).
PARTS = 4


def _in_part(rule: Rule, method: str, part: int) -> bool:
    """Whether this route is fuzzed by test part ``part`` (each route by exactly one part)."""
    return zlib.crc32(f"{method} {rule.rule}".encode()) % PARTS == part


@pytest.mark.parametrize("part", range(PARTS))
def test_no_field_of_any_route_gives_a_server_error(
    seeded: Flask, users: dict[str, int], part: int
) -> None:
    app = seeded
    client = app.test_client()
    login(client, "owner")
    token = owner_token(app, users)
    fields = sorted(_form_fields() | _api_fields(client, token))
    assert {"name", "email", "next", "person_id", "photo_ids", "channels", "reason"} <= set(fields)
    routes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in SKIP and not rule.endpoint.endswith("static")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) > 100
    routes = [(rule, method) for rule, method in routes if _in_part(rule, method, part)]
    assert routes, f"part {part} has no route"
    failures: list[str] = []

    forms = _form_classes()
    for rule, method in routes:
        url = _url(rule)
        own = _fields_of(app.view_functions[rule.endpoint], forms)
        try:
            _fuzz(client, url, method, token, sorted(own) or fields, probe=bool(own))
        except Exception as exc:  # one route's failure must not hide the others'
            failures.append(f"{method} {url}: {str(exc).strip().splitlines()[0][:300]}")
        # Some routes end the session: stay signed in for the next one.
        if client.get("/").status_code != 200:
            login(client, "owner")
    assert not failures, "\n".join(failures)


def _fuzz(
    client: FlaskClient, url: str, method: str, token: str, fields: list[str], *, probe: bool
) -> None:
    """Generated requests over ``fields``; then, if they are the route's own (``probe``), each
    of its first 12 fields alone with each of PROBES."""
    api = url.startswith("/api/")
    headers = {"Authorization": f"Bearer {token}"} if api else {}

    @given(
        data=st.dictionaries(st.sampled_from(fields), VALUES, max_size=6),
        body=st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=6),
        as_json=st.booleans(),
    )
    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(data: dict[str, str], body: dict[str, Any], as_json: bool) -> None:
        if method == "GET":
            response = client.get(url, query_string=data, headers=headers)
        elif api and as_json:
            response = client.open(url, method=method, json=body, headers=headers)
        else:
            response = client.open(url, method=method, data=data, headers=headers)
        response.close()
        sent = body if (api and as_json) else data
        assert response.status_code < 500, f"{method} {url} {sent!r} -> {response.status_code}"

    run()
    for name in fields[:12] if probe else ():
        for value in PROBES:
            if method == "GET":
                response = client.get(url, query_string={name: value}, headers=headers)
            else:
                response = client.open(url, method=method, data={name: value}, headers=headers)
            response.close()
            assert response.status_code < 500, f"{method} {url} {name}={value!r}"
