"""In a real browser: the owner adds a person and records a consent signed with the mouse on screen."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign(page: Page) -> None:
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
    live_server: tuple[str, Path],
    browser_page: Callable[..., Page],
    width: int,
    height: int,
    label: str,
) -> None:
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
    expect(page.locator("h1")).to_have_text(re.compile("^Åsa Öberg"))

    page.click("text=Record consent")
    page.wait_for_url("**/consents/new")
    expect(page.locator(".form-body")).to_contain_text("Permission to publish photos")
    page.check("input[name=channels][value=instagram]")
    page.check("input[name=channels][value=website]")
    page.check("input[name=biometric]")
    # The guardian field only shows for a minor; the photo picker only for chosen photos.
    expect(page.locator("#guardian")).to_be_hidden()
    expect(page.locator("#photo-choice")).to_be_hidden()
    status = page.locator("#signature-status")
    expect(status).to_have_text("Not signed yet")
    _sign(page)
    expect(status).to_have_text("Signed")
    assert page.locator("input[name=signature]").input_value().startswith("data:image/png;base64,")
    screenshot(page, f"consent-form-{label}")

    # A second tap while the form is on its way (a slow phone) sends nothing more: the page's
    # own script refuses a second send of the same form within seconds.
    refused = page.evaluate(
        """() => {
          const form = document.querySelector('#consent-form');
          const send = () => {
            const event = new Event('submit', {cancelable: true, bubbles: true});
            form.dispatchEvent(event);
            return event.defaultPrevented;
          };
          const answers = [send(), send()];
          delete form.dataset.sentAt;  // as the browser's history does, for the real send below
          return answers;
        }"""
    )
    assert refused == [False, True]
    with page.expect_navigation():
        page.click("#consent-submit")
    expect(page.locator("#form-error")).to_have_count(0)
    assert "#consent-" in page.url
    expect(page.locator("article.consent")).to_have_count(1)
    consent = page.locator("article.consent").first
    for words in ("Active", "Instagram", "Website", "Agreed", "Signature on screen"):
        expect(consent).to_contain_text(words)
    # Biometric consent opens the reference-photo upload.
    expect(page.locator("text=Upload reference photo")).to_have_count(1)
    screenshot(page, f"person-{label}")

    # Clearing the pad and submitting nothing is refused with a clear message.
    page.click("text=Record consent")
    page.check("input[name=channels][value=print]")
    page.click("#consent-submit")
    expect(page.locator("#form-error")).to_contain_text("please sign in the box")
    assert errors == []

    page.goto(base_url + "/people/")
    expect(page.locator(".people-list")).to_contain_text("Åsa Öberg")
    screenshot(page, f"people-{label}")
