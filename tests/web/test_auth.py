"""Sign-in, sign-out, language choice and the API's bearer tokens."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from consentcam.services import users as users_service
from tests.conftest import login


def test_anonymous_is_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_and_out(client: FlaskClient, users: dict[str, int]) -> None:
    bad = client.post("/login", data={"email": "owner@example.com", "password": "wrong-password-x"})
    assert bad.status_code == 200
    assert "do not match" in bad.get_data(as_text=True)
    login(client, "owner")
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_swedish_when_the_browser_prefers_it(client: FlaskClient, users: dict[str, int]) -> None:
    page = client.get("/login", headers={"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert '<html lang="sv">' in page.get_data(as_text=True)
    client.post("/language/en", data={"next": "/login"})
    page = client.get("/login", headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_api_needs_a_live_token(app: Flask, client: FlaskClient, users: dict[str, int]) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 401
    rt = app.extensions["runtime"]
    with rt.sessions() as s:
        from consentcam.models import User

        owner = s.get(User, users["owner"])
        token, clear = users_service.create_token(s, owner, "phone")
        s.commit()
    headers = {"Authorization": f"Bearer {clear}"}
    spec = client.get("/api/v1/openapi.json", headers=headers)
    assert spec.status_code == 200 and spec.get_json()["openapi"].startswith("3.")
    with rt.sessions() as s:
        from consentcam.models import ApiToken, User

        users_service.revoke_token(s, s.get(ApiToken, token.id), s.get(User, users["owner"]))
        s.commit()
    assert client.get("/api/v1/openapi.json", headers=headers).status_code == 401
