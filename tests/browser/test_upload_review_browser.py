"""In Chromium against a real server and worker: upload two photos, watch the scans, review, clear."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    attribute,
    confirm_everyone_marked,
    person_with_signed_form,
    screenshot,
    sign_in,
    upload_and_wait,
)
from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _boxes_align_with_faces(page: Page) -> None:
    """Each drawn box sits on the displayed image where the face is (scaled from full size)."""
    img = page.locator("#review-image").bounding_box()
    natural_w = page.locator("#review-image").get_attribute("width")
    assert img is not None and natural_w is not None
    scale = img["width"] / int(natural_w)
    rects = page.locator(".face-boxes rect")
    assert rects.count() >= 1
    for i in range(rects.count()):
        rect = rects.nth(i)
        drawn = rect.bounding_box()
        assert drawn is not None
        x = float(attribute(rect, "x"))
        w = float(attribute(rect, "width"))
        # Within a few pixels of where the box's coordinates land on the displayed image.
        assert abs(drawn["x"] - (img["x"] + x * scale)) < 4, (drawn, img, x, scale)
        assert abs(drawn["width"] - w * scale) < 6


def test_upload_scan_review_and_clear_for_instagram(
    live_server: tuple[str, Path], browser_page: Callable[..., Page]
) -> None:
    base, _instance = live_server
    page = browser_page(1280, 800)
    sign_in(page, base)

    # The page follows the worker's scans without a reload.
    texts = upload_and_wait(
        page, base, [FACES / "unknown/obama1.jpg", FACES / "unknown/two_people.jpg"]
    )
    expect(texts["obama1.jpg"]).to_contain_text("New photo")
    expect(texts["obama1.jpg"]).to_contain_text("Scan done, faces found: 1")
    expect(texts["two_people.jpg"]).to_contain_text("Scan done, faces found: 2")
    bar = page.locator("#scan-progress")
    expect(bar).to_have_attribute("value", "2")
    expect(bar).to_have_attribute("max", "2")
    screenshot(page, "upload-done-1280")
    obama_url = texts["obama1.jpg"].locator(".review-link").get_attribute("href")
    pair_url = texts["two_people.jpg"].locator(".review-link").get_attribute("href")
    assert obama_url is not None and pair_url is not None

    # Uploading the same file again says so and does not make a second photo.
    page.set_input_files("#file-input", str(FACES / "unknown/obama1.jpg"))
    page.wait_for_selector(".upload-item.duplicate")

    # A person with an on-screen signature and biometric consent, through the people pages.
    person_with_signed_form(page, base, "Barack", biometric=True)
    page.click("#consent-submit")
    try:
        page.wait_for_url(re.compile(r"/people/\d+(#.*)?$"))
    except Exception:
        screenshot(page, "consent-failed")
        errors = page.locator(".flash-error, .errors").all_inner_texts()
        raise AssertionError(f"consent not saved at {page.url}: {errors}") from None

    # Review: say who face 1 is, then Instagram is cleared.
    page.goto(base + obama_url)
    _boxes_align_with_faces(page)
    expect(page.locator(".verdict[data-channel=instagram]")).to_contain_text("Blocked")
    card = page.locator(".face-card").first
    # The picker asks the server as you type and shows the matches as buttons; a tap assigns.
    card.locator(".person-search").fill("bAR")
    match = card.locator(".person-results .person-option", has_text="Barack")
    match.wait_for(timeout=10_000)
    expect(card.locator(".person-results .person-option")).to_have_count(1)
    screenshot(page, "review-person-search-1280")
    with page.expect_navigation():
        match.click()
    # Every face is covered, but nobody has yet said that everyone in the photo is marked.
    expect(page.locator(".verdict[data-channel=instagram]")).to_contain_text("Blocked")
    expect(page.locator(".verdict[data-channel=instagram]")).to_contain_text(
        "everyone in this photo is marked"
    )
    confirm_everyone_marked(page)
    expect(page.locator(".verdict[data-channel=instagram]")).to_contain_text("Cleared")
    expect(page.locator(".verdict[data-channel=facebook]")).to_contain_text("Blocked")
    screenshot(page, "review-cleared-1280")

    # The two-person photo on a phone: boxes on the faces, numbered, and the actions reachable.
    phone = browser_page(390, 844)
    sign_in(phone, base)
    phone.goto(base + pair_url)
    _boxes_align_with_faces(phone)
    expect(phone.locator(".face-card")).to_have_count(2)
    screenshot(phone, "review-two-faces-390")
    first = phone.locator(".face-card").first
    # An undecided face without a suggestion opens the picker by itself.
    first.locator(".person-search").fill("ba")
    first.locator(".person-results .person-option", has_text="Barack").wait_for(timeout=10_000)
    screenshot(phone, "review-person-search-390")
    phone.locator(".face-card").nth(1).locator("summary", has_text="Not identifiable").click()
    phone.fill(".face-card >> nth=1 >> input[name=reason]", "far in the background")
    phone.locator(".face-card").nth(1).locator("button", has_text="Mark not identifiable").click()
    phone.wait_for_load_state()
    expect(phone.locator(".face-card").nth(1)).to_contain_text("not identifiable")
    page.goto(base + pair_url)
    _boxes_align_with_faces(page)
    screenshot(page, "review-two-faces-1280")

    phone.goto(base + "/photos/")
    expect(phone.locator(".photo-tile")).to_have_count(2)
    screenshot(phone, "photos-list-390")
    page.goto(base + "/photos/?state=cleared")
    expect(page.locator(".photo-tile")).to_have_count(1)
    screenshot(page, "photos-cleared-1280")
