"""In Chromium against a real server and worker: queue photos, post one by hand, withdraw consent.

The owner uploads two real photos; one face is confirmed as a person with Instagram consent and
that photo is queued from its review page (ready), posted by hand (download the cleared copy,
paste the link) and queued once more; the other photo, whose faces nobody has reviewed, is
queued blocked with its reasons in words. Withdrawing the person's Instagram consent blocks
the waiting item at once. The queue list is checked on a phone and a laptop and in Swedish.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    confirm_everyone_marked,
    person_with_signed_form,
    screenshot,
    sign_in,
    upload_and_wait,
)
from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POST_URL = "https://www.instagram.com/p/queue-test-1/"


def _queue_for_instagram(page: Page, base: str, review_url: str, caption: str) -> str:
    """From the photo's review page: open the queue form, Instagram only, add; return the item URL."""
    page.goto(base + review_url)
    page.click("#queue-photo")
    page.wait_for_url(re.compile(r"/queue/new\?photo_id=\d+$"))
    page.uncheck("input[name=channels][value=facebook]")
    # Only cleared channels come ticked; a blocked photo is queued by ticking it by hand.
    page.check("input[name=channels][value=instagram]")
    page.fill("textarea[name=caption]", caption)
    with page.expect_navigation():
        page.click("form button[type=submit].primary")
    assert re.search(r"/queue/\d+$", page.url), page.url
    return str(page.url)


def _items(page: Page) -> dict[str, Locator]:
    """The queue list's cards, by caption."""
    cards = page.locator(".q-item")
    return {
        cards.nth(i).locator(".q-caption").inner_text(): cards.nth(i) for i in range(cards.count())
    }


def _fits_width(page: Page) -> None:
    """Nothing on the page is wider than the window (no sideways scrolling)."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    # The badges and every filter tab are in sight, not cut off or scrolled away.
    for badge in page.locator(".q-item .q-status, .q-item .ch, .tabs a").all():
        box = badge.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= widths[1], box
    _menu_in_view(page)


def _menu_in_view(page: Page) -> None:
    """The main menu neither scrolls sideways nor cuts off the current page's link."""
    menu = page.evaluate(
        """() => {
          const nav = document.querySelector('.main-nav');
          const here = nav.querySelector('a[aria-current=page]');
          const box = here.getBoundingClientRect();
          return {nav: [nav.scrollWidth, nav.clientWidth], here: [box.left, box.right],
                  top: box.top, view: document.documentElement.clientWidth};
        }"""
    )
    assert menu["nav"][0] <= menu["nav"][1], menu
    assert menu["here"][0] >= 0 and menu["here"][1] <= menu["view"], menu
    assert menu["top"] >= 0, menu


def test_queue_publish_by_hand_and_block_on_withdrawal(
    live_server: tuple[str, Path], browser_page: Callable[..., Page]
) -> None:
    base, _instance = live_server
    page = browser_page(1280, 800)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base)

    uploads = upload_and_wait(
        page, base, [FACES / "unknown/obama1.jpg", FACES / "unknown/two_people.jpg"]
    )
    links = {
        name: row.locator(".review-link").get_attribute("href") for name, row in uploads.items()
    }
    single, pair = links["obama1.jpg"], links["two_people.jpg"]
    assert single is not None and pair is not None

    # A person with Instagram consent (signed on screen), and the single face confirmed as them.
    person_url = person_with_signed_form(page, base, "Barack")
    with page.expect_navigation():
        page.click("#consent-submit")
    expect(page.locator("#form-error")).to_have_count(0)
    page.goto(base + single)
    card = page.locator(".face-card").first
    card.locator(".person-search").fill("Barack")
    match = card.locator(".person-results .person-option", has_text="Barack")
    match.wait_for(timeout=10_000)
    with page.expect_navigation():
        match.click()
    confirm_everyone_marked(page)
    expect(page.locator(".verdict[data-channel=instagram]")).to_contain_text("Cleared")

    # Queued from the review page: the form shows the verdict, and the item is ready.
    page.goto(base + single)
    page.click("#queue-photo")
    verdict = page.locator(".verdict .ch-instagram")
    expect(verdict).to_have_class(re.compile(r"\bch-done\b"))
    expect(verdict).to_contain_text("✓")
    expect(page.locator(".verdict .ch-facebook")).to_contain_text("✗")
    first_url = _queue_for_instagram(page, base, single, "Sommarfest hos Kraftkällan")
    expect(page.locator(".flash").first).to_contain_text("Queued.")
    expect(page.locator("h1 .q-status")).to_contain_text("Ready")
    expect(page.locator("ul.reasons")).to_have_count(0)

    # Posted by hand: Publish now, download the cleared copy, paste the post's link.
    page.click("button.primary:has-text('Publish now')")
    expect(page.locator(".flash").first).to_contain_text("Publishing started.")
    download_link = page.locator("button.primary", has_text="Download the cleared photo")
    # The worker takes the item up; the page polls and reloads itself when it has.
    expect(download_link).to_be_visible(timeout=60_000)
    with page.expect_download() as dl_info:
        download_link.click()
    download = dl_info.value
    assert download.suggested_filename.endswith("-instagram.jpg")
    cleared = download.path().read_bytes()
    assert cleared[:3] == b"\xff\xd8\xff"  # a JPEG
    assert cleared != (FACES / "unknown/obama1.jpg").read_bytes()  # never the original
    page.fill("input[name=url]", POST_URL)
    page.click("button[type=submit]:has-text('Mark as published')")
    page.wait_for_load_state()
    expect(page.locator(".flash").first).to_contain_text("Recorded as published on Instagram.")
    expect(page.locator("h1 .q-status")).to_contain_text("Published")
    expect(page.locator(f"a[href='{POST_URL}']")).to_have_count(1)

    # The same photo queued again to go out later, and the unreviewed pair: blocked, in words.
    _queue_for_instagram(page, base, single, "Again next week")
    expect(page.locator("h1 .q-status")).to_contain_text("Ready")
    _queue_for_instagram(page, base, pair, "Two guests at the door")
    expect(page.locator(".flash").first).to_contain_text(
        "blocked: it goes out by itself once the reasons shown"
    )
    expect(page.locator("h1 .q-status")).to_contain_text("Blocked")
    reasons = page.locator("ul.reasons")
    expect(reasons).to_contain_text("Face 1: nobody has said yet who this is.")
    expect(reasons).to_contain_text("Face 2: nobody has said yet who this is.")

    # The queue list: one ready, one blocked with its reasons; the posted one is no longer waiting.
    page.goto(base + "/queue/")
    expect(page.locator(".q-item")).to_have_count(2)
    items = _items(page)
    assert set(items) == {"Again next week", "Two guests at the door"}
    ready, blocked = items["Again next week"], items["Two guests at the door"]
    expect(ready).to_have_class(re.compile(r"\bq-ready\b"))
    expect(ready.locator(".q-status")).to_have_text("Ready")
    expect(ready.locator("ul.reasons")).to_have_count(0)
    expect(blocked).to_have_class(re.compile(r"\bq-blocked\b"))
    expect(blocked.locator(".q-status")).to_have_text("Blocked")
    expect(blocked.locator("ul.reasons")).to_contain_text(
        "Face 1: nobody has said yet who this is."
    )
    expect(page.locator(".tabs a.active")).to_have_text(
        re.compile(r"^\s*Waiting\s+2\s*$"), use_inner_text=True
    )
    expect(page.locator(".main-nav a.active")).to_have_text(["Queue"], use_inner_text=True)
    _fits_width(page)
    screenshot(page, "queue-ready-blocked-1280")
    phone = browser_page(390, 844)
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(phone, base)
    phone.goto(base + "/queue/")
    expect(phone.locator(".q-item.q-ready")).to_have_count(1)
    expect(phone.locator(".q-item.q-blocked")).to_have_count(1)
    _fits_width(phone)
    screenshot(phone, "queue-ready-blocked-390")
    phone.goto(base + "/queue/?status=published")
    expect(phone.locator(".q-item.q-published")).to_have_count(1)
    phone.goto(first_url)
    _fits_width(phone)
    screenshot(phone, "queue-published-detail-390")

    # Withdrawing Instagram from the person's page blocks the waiting item at once.
    page.goto(person_url)
    page.click("a.button:has-text('Withdraw consent')")
    page.check("input[name=channels][value=instagram]")
    page.click("button[type=submit].danger")
    page.wait_for_url(lambda url: "/removals/" in url)
    expect(page.locator(".flash").first).to_contain_text("1 queued post blocked.")
    page.goto(base + "/queue/")
    again = page.locator(".q-item", has_text="Again next week")
    expect(again).to_have_class(re.compile(r"\bq-blocked\b"))
    expect(again.locator(".q-status")).to_have_text("Blocked")
    expect(again.locator("ul.reasons")).to_contain_text(
        "Face 1 (Barack): consent for Instagram was withdrawn on"
    )
    expect(page.locator(".q-item.q-ready")).to_have_count(0)
    expect(page.locator(".tabs a", has_text="Blocked")).to_have_text(
        re.compile(r"^\s*Blocked\s+2\s*$"), use_inner_text=True
    )
    screenshot(page, "queue-after-withdrawal-1280")
    phone.goto(base + "/queue/")
    expect(phone.locator(".q-item.q-blocked")).to_have_count(2)
    _fits_width(phone)
    screenshot(phone, "queue-after-withdrawal-390")

    # In Swedish: the switch in the header, then the same list in Swedish words.
    phone.click("button[lang=sv]")
    phone.wait_for_load_state()
    phone.goto(base + "/queue/")
    expect(phone.locator("html")).to_have_attribute("lang", "sv")
    main = phone.locator("main")
    expect(phone.locator("h1")).to_contain_text("Publiceringskö")
    expect(phone.locator(".q-item .q-status").first).to_have_text("Stoppad")
    expect(main).to_contain_text("Ansikte 1: ingen har angett vem det är än.")
    expect(main).to_contain_text("Ansikte 1 (Barack): samtycket för Instagram återkallades")
    for english in ("Blocked", "Ready", "Waiting", "Open", "nobody has said", "withdrawn on"):
        expect(main).not_to_contain_text(english)
    expect(phone.locator(".q-item a", has_text="Detaljer")).to_have_count(2)
    expect(phone.locator(".top-tools")).to_have_text(
        re.compile(r"^\s*English\s+Ditt konto\s+Logga\s+ut\s*$"), use_inner_text=True
    )
    _fits_width(phone)
    screenshot(phone, "queue-after-withdrawal-390-sv")
    phone.locator(".q-item", has_text="Again next week").locator("a", has_text="Detaljer").click()
    phone.wait_for_url(re.compile(r"/queue/\d+$"))
    expect(phone.locator("h1")).to_contain_text("Stoppad")
    detail = phone.locator("main")
    for english in ("Why it cannot", "Review the faces", "Take off", "Back to", "Not published"):
        expect(detail).not_to_contain_text(english)
    _fits_width(phone)
    screenshot(phone, "queue-blocked-detail-390-sv")
    assert errors == []
