"""The browser's language preference picks the page language by language, not by exact tag."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sv-SE,en;q=0.5", "sv"),  # a Swedish phone: Swedish, though "en" matches exactly
        ("sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7", "sv"),
        ("en-GB,sv;q=0.8", "en"),
        ("de-DE,sv;q=0.5,en;q=0.3", "sv"),  # the first language we speak
        ("fr-FR,de;q=0.5", "en"),  # none we speak: the instance's LANGUAGE
        ("sv;q=0,en;q=0.5", "en"),  # q=0 means "not this one"
    ],
)
def test_page_language_follows_the_browser(client: FlaskClient, header: str, expected: str) -> None:
    page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{expected}">' in page
