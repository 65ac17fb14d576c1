"""Web security: every route needs the right user, CSRF on every form, headers, cookies, sign-in limits."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from consentcam.models import User
from consentcam.runtime import Runtime
from consentcam.security import CSP, parse_limits
from tests.conftest import OWNER_PASSWORD, base_settings, login

#: Routes anyone may use: sign-in, language choice, the public cleared-copy link, static files.
PUBLIC_ENDPOINTS = {"auth.login", "auth.language", "static"}
# The customers' own link pages (mine.*) are public on purpose: their token is the key.
PUBLIC_PREFIXES = ("public.", "mine.")
#: Changes that must be owner-only wherever they exist (consent, withdrawal, users, settings, audits).
MUST_BE_OWNER = re.compile(
    r"(withdraw|consent|erase|erasure|settings|users|supplier.*permission|sign_off|signoff|token)"
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _url(rule: Rule) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        converter = rule._converters.get(arg)
        name = type(converter).__name__ if converter else ""
        values[arg] = 1 if "Integer" in name else "x"
    built = rule.build(values, append_unknown=False)
    assert built is not None
    return built[1]


def _is_public(endpoint: str) -> bool:
    return (
        endpoint in PUBLIC_ENDPOINTS
        or endpoint.startswith(PUBLIC_PREFIXES)
        or endpoint.endswith(".static")
    )


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if _is_public(rule.endpoint):
            continue
        for method in METHODS:
            if method in (rule.methods or ()):
                out.append((rule.endpoint, method, _url(rule)))
    return out


def _owner_only(app: Flask, endpoint: str) -> bool:
    """Read the view's own source: @owner_required or require_owner() makes it owner-only.

    An API operation is owner-only by the role table alone (the API checks every request
    against it once its token is known), so for those the table is read instead.
    """
    from consentcam.web import roles

    if endpoint.startswith("api.") and roles.ROUTE_ROLES.get(endpoint) == roles.OWNER:
        return True
    view = inspect.unwrap(app.view_functions[endpoint])
    try:
        source = inspect.getsource(view)
    except (OSError, TypeError):
        return False
    return "owner_required" in source or "require_owner()" in source


def test_every_route_needs_a_signed_in_user(app: Flask, client: FlaskClient) -> None:
    routes = _routes(app)
    assert len(routes) > 20, "the URL map should list the app's pages"
    wrong = []
    for endpoint, method, url in routes:
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            ok = response.status_code == 401 and response.is_json
        else:
            ok = response.status_code == 302 and "/login" in response.headers.get("Location", "")
        if not ok:
            wrong.append(f"{method} {url} ({endpoint}) -> {response.status_code}")
    assert not wrong, "reachable without signing in:\n" + "\n".join(wrong)


def test_staff_get_403_on_owner_only_routes(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    from tests.hardening.helpers import owner_token

    login(client, "staff")
    token = owner_token(app, users, "staff")
    owner_only = [r for r in _routes(app) if _owner_only(app, r[0])]
    assert owner_only, "some routes are owner-only"
    # Cross-check: routes that change consent or users must be among the owner-only ones.
    missing = sorted(
        {ep for ep, m, _u in _routes(app) if m != "GET" and MUST_BE_OWNER.search(ep)}
        - {ep for ep, _m, _u in owner_only}
        - {"auth.logout"}
    )
    assert not missing, f"these look owner-only but have no owner check: {missing}"
    wrong = []
    for endpoint, method, url in owner_only:
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        kwargs: dict[str, Any] = {"json": {}} if url.startswith("/api/") and method != "GET" else {}
        response = client.open(url, method=method, headers=headers, **kwargs)
        if response.status_code != 403:
            wrong.append(f"{method} {url} ({endpoint}) -> {response.status_code}")
    assert not wrong, "staff not refused:\n" + "\n".join(wrong)


@pytest.fixture
def csrf_app(instance: Path, runtime: Runtime) -> Iterator[Flask]:
    from consentcam.web import create_app

    settings = base_settings(instance, WTF_CSRF_ENABLED=True)
    settings["ENCRYPTION_KEY"] = runtime.settings["ENCRYPTION_KEY"]
    application = create_app(settings, instance_path=instance)
    yield application
    application.extensions["runtime"].close()


def test_every_form_post_needs_a_csrf_token(csrf_app: Flask, users: dict[str, int]) -> None:
    client = csrf_app.test_client()
    # Without a token even the sign-in is refused.
    response = client.post(
        "/login", data={"email": "owner@example.com", "password": OWNER_PASSWORD}
    )
    assert response.status_code == 400
    # Sign in properly (with the token from the form), then try every POST without one.
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "the sign-in form carries a CSRF token"
    signed_in = client.post(
        "/login",
        data={"email": "owner@example.com", "password": OWNER_PASSWORD, "csrf_token": token[1]},
    )
    assert signed_in.status_code == 302
    posts = [
        (ep, url)
        for ep, method, url in _routes(csrf_app) + [("auth.language", "POST", "/language/sv")]
        if method in ("POST", "PUT", "PATCH", "DELETE") and not url.startswith("/api/")
    ]
    assert len(posts) > 5
    wrong = []
    for endpoint, url in posts:
        response = client.post(url, data={"x": "1"})
        if response.status_code != 400 or "The form has expired" not in response.get_data(
            as_text=True
        ):
            wrong.append(f"POST {url} ({endpoint}) -> {response.status_code}")
    assert not wrong, "accepted without a CSRF token:\n" + "\n".join(wrong)


def test_a_form_whose_token_expired_says_so_in_swedish_and_leads_back_to_it(
    csrf_app: Flask, users: dict[str, int]
) -> None:
    """The form was open overnight, or the phone's browser was closed: its token no longer
    holds. The owner reads, in her language, that nothing was saved, with a way back to the form."""
    from consentcam.models import Person

    client = csrf_app.test_client()
    swedish = {"Accept-Language": "sv-SE,sv;q=0.9"}
    sent = client.post(
        "/people/new",
        data={"name": "Lena Berg", "csrf_token": "from-yesterday"},
        headers={**swedish, "Referer": "http://localhost/people/new?from=start"},
    )
    html = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert '<html lang="sv">' in html and "Formuläret har gått ut" in html
    assert "Inget sparades" in html and "CSRF" not in html and "Bad Request" not in html
    assert 'href="/people/new?from=start">Öppna formuläret igen</a>' in html
    rt: Runtime = csrf_app.extensions["runtime"]
    with rt.sessions() as s:
        assert s.scalars(sa.select(Person)).all() == []
    # A page of another site is never offered as the way back.
    elsewhere = client.post(
        "/people/new",
        data={"name": "Lena Berg"},
        headers={**swedish, "Referer": "https://evil.example/people/new"},
    ).get_data(as_text=True)
    assert "Formuläret har gått ut" in elsewhere and "evil.example" not in elsewhere
    assert "Öppna formuläret igen</a>" not in elsewhere
    # A customer signing on their phone is not sent to the staff's start page.
    customer = csrf_app.test_client().post(
        "/c/a-link-token",
        data={"signature": "x"},
        headers={**swedish, "Referer": "http://localhost/c/a-link-token"},
    )
    page = customer.get_data(as_text=True)
    assert customer.status_code == 400 and "Formuläret har gått ut" in page
    assert 'href="/c/a-link-token">Öppna formuläret igen</a>' in page
    assert 'href="/"' not in page and "Tillbaka till startsidan" not in page


def test_security_headers_on_pages_and_api(owner_client: FlaskClient) -> None:
    for url in ("/login", "/", "/api/v1/openapi.json"):
        response = owner_client.get(url, follow_redirects=True)
        csp = response.headers["Content-Security-Policy"]
        assert csp == CSP
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_hsts_and_secure_cookies_over_https(
    instance: Path, runtime: Runtime, users: dict[str, int]
) -> None:
    from consentcam.web import create_app

    settings = base_settings(instance, PUBLIC_URL="https://studio.example", TRUSTED_PROXIES=1)
    settings["ENCRYPTION_KEY"] = runtime.settings["ENCRYPTION_KEY"]
    app = create_app(settings, instance_path=instance)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": "owner@example.com", "password": OWNER_PASSWORD, "remember": "y"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    remember = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session_cookie, remember):
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    app.extensions["runtime"].close()


def test_plain_http_cookies_are_httponly_and_samesite(
    client: FlaskClient, users: dict[str, int]
) -> None:
    response = login(client, "owner")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_sign_in_attempts_are_rate_limited(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    limits = parse_limits("5/minute;20/hour")
    assert limits == [(5, 60), (20, 3600)]
    for _ in range(5):
        wrong = client.post("/login", data={"email": "owner@example.com", "password": "x" * 14})
        assert wrong.status_code == 200
    blocked = client.post("/login", data={"email": "OWNER@example.com", "password": OWNER_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0
    # Another account from the same address is still allowed to sign in.
    assert login(client, "staff").status_code == 302


def test_new_session_at_sign_in_and_sign_out_everywhere(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    login(client, "owner")
    with client.session_transaction() as sess:
        assert "planted" not in sess
    other = app.test_client()
    login(other, "owner")
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302
    # Bumping the session version ends every other session of that user.
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        user = s.get(User, users["owner"])
        user.session_version += 1
        s.commit()
    assert other.get("/").status_code == 302


def test_every_password_path_requires_twelve_characters(app: Flask, runtime: Runtime) -> None:
    from click.testing import CliRunner

    from consentcam.services import users as users_service

    assert users_service.password_problem("short-pass1") is not None
    assert users_service.password_problem("twelve-chars") is None
    with runtime.sessions() as s, pytest.raises(users_service.UserError):
        users_service.create_user(s, "a@example.com", "A", "elevenchars")
    from consentcam.cli import main

    result = CliRunner().invoke(
        main,
        [
            "--instance",
            str(runtime.instance_path / "new"),
            "init",
            "--owner-email",
            "o@example.com",
            "--owner-password",
            "too-short",
        ],
    )
    assert result.exit_code != 0 and "12" in result.output
    # Any module that sets a password hash goes through password_problem (directly or via users).
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "consentcam"
    for path in root.rglob("*.py"):
        text = path.read_text("utf-8")
        if "hash_password(" in text and path.name != "users.py":
            assert "password_problem" in text, f"{path} sets a password without the length rule"
    with runtime.sessions() as s:
        assert s.scalar(sa.select(sa.func.count(User.id))) == 0


def _page_routes(app: Flask) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/api/"):
            continue
        urls.append(rule.rule)
    return urls


INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?![^>]*application/(?:ld\+)?json)[^>]*>", re.I
)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def test_no_page_has_inline_script_or_style(owner_client: FlaskClient, app: Flask) -> None:
    urls = _page_routes(app)
    assert len(urls) > 5
    found = []
    for url in urls:
        response = owner_client.get(url)
        assert response.status_code < 500, f"GET {url} -> {response.status_code}"
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        for pattern, what in (
            (INLINE_SCRIPT, "script"),
            (INLINE_HANDLER, "handler"),
            (INLINE_STYLE, "style"),
        ):
            for match in pattern.finditer(html):
                found.append(f"{url}: inline {what}: {match.group(0)[:80]}")
    assert not found, "blocked by the content security policy:\n" + "\n".join(found)


def test_templates_have_no_inline_script_or_style() -> None:
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "consentcam" / "web"
    found = []
    for path in root.rglob("*.html"):
        text = path.read_text("utf-8")
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE):
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(root)}: {match.group(0)[:80]}")
    assert not found, "the content security policy blocks these:\n" + "\n".join(found)


def test_sign_out_everywhere_ends_remember_me_cookies(app: Flask, users: dict[str, int]) -> None:
    phone = app.test_client()
    laptop = app.test_client()
    for device in (phone, laptop):
        response = device.post(
            "/login",
            data={"email": "owner@example.com", "password": OWNER_PASSWORD, "remember": "y"},
        )
        assert response.status_code == 302
    # The phone forgets its session but keeps its remember-me cookie: it is still signed in.
    phone.delete_cookie("session")
    assert phone.get("/").status_code == 200
    assert laptop.post("/logout/everywhere").status_code == 302
    phone.delete_cookie("session")
    assert phone.get("/").status_code == 302, "the remember-me cookie no longer signs in"
    assert laptop.get("/").status_code == 302
    with app.extensions["runtime"].sessions() as s:
        assert s.get(User, users["owner"]).session_version == 1


def test_the_sign_in_limit_speaks_swedish(client: FlaskClient, users: dict[str, int]) -> None:
    client.post("/language/sv")
    for _ in range(5):
        client.post("/login", data={"email": "owner@example.com", "password": "x" * 14})
    blocked = client.post("/login", data={"email": "owner@example.com", "password": "x" * 14})
    assert blocked.status_code == 429
    assert "För många inloggningsförsök" in blocked.get_data(as_text=True)


def test_ids_past_64_bits_are_404_not_a_server_error(
    app: Flask, owner_client: FlaskClient, users: dict[str, int]
) -> None:
    from tests.hardening.helpers import owner_token

    token = owner_token(app, users)
    huge = 2**70
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or not rule.arguments:
            continue
        try:
            built = rule.build({a: huge for a in rule.arguments}, append_unknown=False)
            assert built is not None
            url = built[1]
        except Exception:
            continue
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        response = owner_client.get(url, headers=headers)
        assert response.status_code == 404, f"{url} -> {response.status_code}"
        checked += 1
    assert checked >= 5
