"""Error pages: in the reader's language, styled like the app, and JSON for the API."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient


def _swedish(client: FlaskClient) -> None:
    client.post("/language/sv", data={"next": "/"})


def test_404_page_in_swedish_and_styled(owner_client: FlaskClient) -> None:
    _swedish(owner_client)
    response = owner_client.get("/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="sv">' in html and "Sidan finns inte" in html
    assert "app.css" in html and "favicon.svg" in html
    assert "Not Found" not in html


def test_403_page_in_swedish(staff_client: FlaskClient) -> None:
    _swedish(staff_client)
    response = staff_client.get("/settings/")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "Bara ägaren kan öppna den här sidan." in html and "Forbidden" not in html


def test_api_errors_stay_json(owner_client: FlaskClient) -> None:
    response = owner_client.get("/api/v1/no-such-thing")
    assert response.status_code in (401, 404) and response.is_json


def test_500_page_rolls_back_and_says_nothing_was_saved(app: Flask) -> None:
    from consentcam.web.errors import _server_error

    with app.test_request_context("/", headers={"Accept-Language": "sv"}):
        body, status = _server_error(RuntimeError("boom"))
    assert status == 500 and "Inget sparades" in body and '<html lang="sv">' in body


@pytest.mark.parametrize("path", ["/", "/people/", "/settings/"])
def test_every_page_has_a_skip_link_and_a_favicon(owner_client: FlaskClient, path: str) -> None:
    html = owner_client.get(path).get_data(as_text=True)
    assert 'class="skip-link" href="#content"' in html and 'id="content"' in html
    assert 'rel="icon"' in html
    icon = owner_client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.get_data().startswith(b"<svg")
    icon.close()


def test_400_page_in_swedish_says_nothing_was_saved(app: Flask) -> None:
    from werkzeug.exceptions import BadRequest

    from consentcam.web.errors import _bad_request

    with app.test_request_context("/queue/1/publish", headers={"Accept-Language": "sv"}):
        body, status = _bad_request(BadRequest())
    assert status == 400 and '<html lang="sv">' in body
    assert "Förfrågan gick inte att läsa" in body and "Inget sparades" in body
    assert "Bad Request" not in body


def test_a_forms_address_opened_as_a_page_gets_a_swedish_405(owner_client: FlaskClient) -> None:
    _swedish(owner_client)
    response = owner_client.get("/logout")
    html = response.get_data(as_text=True)
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert "Den här adressen hör till ett formulär" in html and "Inget ändrades" in html
    assert "Method Not Allowed" not in html
    # Still signed in: opening the address changed nothing.
    assert owner_client.get("/").status_code == 200
