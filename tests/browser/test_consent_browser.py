"""In a real browser: the owner adds a person and records a consent signed with the mouse on screen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign(page: Any) -> None:
    """Draw a signature on the pad with mouse down, moves and up."""
    canvas = page.locator("#signature-canvas")
    # Centre it: at the bottom edge the sticky save bar would take the pointer instead.
    canvas.evaluate("element => element.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.7)
    page.mouse.down()
    for i in range(1, 25):
        t = i / 24
        page.mouse.move(x + w * (0.1 + 0.75 * t), y + h * (0.7 - 0.4 * ((i % 6) / 5)), steps=2)
    page.mouse.up()


@pytest.mark.parametrize(("width", "height", "label"), [(390, 844, "phone"), (1280, 800, "laptop")])
def test_owner_records_consent_with_a_drawn_signature(
    live_server, browser_page, width, height, label
) -> None:  # type: ignore[no-untyped-def]
    base_url, _instance = live_server
    page = browser_page(width, height)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base_url)

    page.goto(base_url + "/people/new")
    page.fill("input[name=name]", "Åsa Öberg")
    page.fill("input[name=email]", "asa@example.com")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/people/*")
    assert page.locator("h1").inner_text().startswith("Åsa Öberg")

    page.click("text=Record consent")
    page.wait_for_url("**/consents/new")
    assert "Permission to publish photos" in page.locator(".form-body").inner_text()
    page.check("input[name=channels][value=instagram]")
    page.check("input[name=channels][value=website]")
    page.check("input[name=biometric]")
    # The guardian field only shows for a minor; the photo picker only for chosen photos.
    assert page.locator("#guardian").is_hidden()
    assert page.locator("#photo-choice").is_hidden()
    status = page.locator("#signature-status")
    assert status.inner_text() == "Not signed yet"
    _sign(page)
    assert status.inner_text() == "Signed"
    assert page.locator("input[name=signature]").input_value().startswith("data:image/png;base64,")
    screenshot(page, f"consent-form-{label}")

    with page.expect_navigation():
        page.click("#consent-submit")
    refused = page.locator("#form-error")
    assert refused.count() == 0, refused.inner_text()
    assert "#consent-" in page.url
    consent = page.locator("article.consent").first
    assert "Active" in consent.inner_text()
    assert "Instagram" in consent.inner_text() and "Website" in consent.inner_text()
    assert "Agreed" in consent.inner_text()
    assert "Signature on screen" in consent.inner_text()
    # Biometric consent opens the reference-photo upload.
    assert page.locator("text=Upload reference photo").count() == 1
    screenshot(page, f"person-{label}")

    # Clearing the pad and submitting nothing is refused with a clear message.
    page.click("text=Record consent")
    page.check("input[name=channels][value=print]")
    page.click("#consent-submit")
    assert "please sign in the box" in page.locator("#form-error").inner_text()
    assert errors == []

    page.goto(base_url + "/people/")
    assert "Åsa Öberg" in page.locator(".people-list").inner_text()
    screenshot(page, f"people-{label}")
