"""The owner's whole day in Swedish on a 390x844 phone, in Chromium against a real server and worker.

One walk visits every page of the main flow (sign-in, dashboard, people, the consent form, upload,
the photo page with a supplier, the queue, a withdrawal and its removal, audits with a report,
the record of processing, settings, and the 404 and 403 pages), takes a screenshot of each under
test-artifacts/, and records two things the tests below assert:

- English on a Swedish page: any text the catalogues know in English that shows untranslated,
  and any run of plainly English words (the, with, your, photo, consent...), in the visible text,
  the page title and the placeholder, title, alt and aria-label attributes;
- width: no page is wider than the 390 px screen (no sideways scrolling).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    BUSINESS,
    OWNER_EMAIL,
    confirm_everyone_marked,
    draw_signature,
    screenshot,
    serving,
    sign_in,
    upload_and_wait,
)
from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WEB = Path(__file__).resolve().parents[2] / "consentcam" / "web"
STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "staff-password-123"
# Words that are English and never Swedish: one of them on a Swedish page is an untranslated text.
ENGLISH_WORDS = frozenset(
    """the and with your you this that these there their them they which what when where who
    will would should must please have has been were was not from into only yet photo photos
    people consent consents queue queued removal removals settings sign upload uploaded review
    today published overdue ready blocked cancelled waiting done edit save delete none page
    erased face faces supplier suppliers cleared taken down withdraw withdrawn audit report
    findings record records back""".split()
)
# Names and words that are the same in both languages, or typed in by the walk.
ALLOWED = ("Instagram", "Facebook", "English", "consentcam", BUSINESS, "Anna Berg")
_WORD = re.compile(r"[A-Za-zÅÄÖåäö]+")

VISIBLE_TEXT = """() => {
  const out = [];
  const skip = new Set(['SCRIPT', 'STYLE', 'CODE', 'OPTION', 'NOSCRIPT', 'TEMPLATE']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim()) continue;
    let hidden = false;
    for (let p = el; p; p = p.parentElement) { if (skip.has(p.tagName)) { hidden = true; break; } }
    if (hidden || !el.checkVisibility({visibilityProperty: true})) continue;
    out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [alt], [aria-label]')) {
    for (const name of ['placeholder', 'title', 'alt', 'aria-label']) {
      const value = el.getAttribute(name);
      if (value && value.trim()) out.push(value.trim());
    }
  }
  for (const sel of document.querySelectorAll('select')) {
    if (sel.selectedOptions.length) out.push(sel.selectedOptions[0].textContent.trim());
  }
  out.push(document.title);
  return out;
}"""


def _english_catalogue() -> list[str]:
    """Every English text of the catalogues whose Swedish differs, as fragments between the
    placeholders (a name or a number fills those), long enough not to be a Swedish word too."""
    fragments: set[str] = set()
    for po in WEB.glob("*/translations/sv/LC_MESSAGES/messages.po"):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale="sv")
        for message in catalog:
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            assert message.string is not None
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            for msgid in ids:
                if msgid in strings:
                    continue
                for part in re.split(r"%\([a-z_]+\)[sd]|%s|%d", msgid):
                    part = part.strip(" .,:;()!?\n")
                    if len(part) >= 10 and " " in part:
                        fragments.add(part)
    return sorted(fragments)


def english_in(texts: list[str], catalogue: list[str]) -> list[str]:
    """The pieces of ``texts`` that are English: catalogue texts left untranslated, or runs of
    English words."""
    found: list[str] = []
    for text in texts:
        cleaned = text
        for allowed in ALLOWED:
            cleaned = cleaned.replace(allowed, " ")
        hits = [frag for frag in catalogue if frag in cleaned]
        words = [w for w in _WORD.findall(cleaned) if w.lower() in ENGLISH_WORDS]
        if hits or words:
            found.append(f"{text[:120]!r} ({', '.join(hits[:2] + words[:4])})")
    return found


class Walk:
    """Visits pages and keeps what each showed."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.catalogue = _english_catalogue()
        self.english: dict[str, list[str]] = {}
        self.too_wide: dict[str, tuple[int, int]] = {}
        self.visited: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state()
        found = english_in(page.evaluate(VISIBLE_TEXT), self.catalogue)
        lang = page.get_attribute("html", "lang")
        if lang != "sv":
            found.insert(0, f"<html lang={lang!r}>")
        if found:
            self.english[name] = found
        width, view = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if width > view:
            self.too_wide[name] = (width, view)
        screenshot(page, f"sv-390-{name}")
        self.visited.append(name)


@pytest.fixture(scope="module")
def walk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chromium: Browser
) -> Iterator[Walk]:
    """Run the whole Swedish day once; the tests read what it saw."""
    with serving(tmp_path_factory.mktemp("sv")) as (base, _instance):
        yield from _walk(base, chromium)


def _walk(base: str, chromium: Browser) -> Iterator[Walk]:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="sv-SE")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    result = Walk(page)
    try:
        _the_day(page, base, result, chromium)
        assert not errors, errors
        yield result
    finally:
        context.close()


def _the_day(page: Page, base: str, walk: Walk, chromium: Browser) -> None:
    page.goto(base + "/login")
    walk.check("sign-in")
    page.fill("input[name=email]", OWNER_EMAIL)
    page.fill("input[name=password]", "wrong-password-123")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash-error")).to_be_visible()
    walk.check("sign-in-refused")
    sign_in(page, base)

    # The first day: no customers yet, so the dashboard shows the three first steps.
    page.goto(base + "/")
    expect(page.locator(".first-steps li")).to_have_count(3)
    expect(page.locator(".dashboard-tiles")).to_have_count(0)
    walk.check("dashboard-first-day")
    # The studio works in Swedish: the default language (reports, forms) set in the settings.
    page.goto(base + "/settings/")
    page.select_option("select[name=language]", "sv")
    with page.expect_navigation():
        page.click("form.settings-form button[type=submit].primary")
    expect(page.locator(".flash").first).to_contain_text("sparade")

    page.goto(base + "/people/")
    walk.check("people-empty")
    page.goto(base + "/people/new")
    walk.check("person-new")
    page.fill("input[name=name]", "Anna Berg")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/people/\d+$"))
    person_url = page.url
    walk.check("person")
    page.goto(person_url + "/consents/new")
    expect(page.locator(".form-body")).to_contain_text(f"{BUSINESS} publicerar")
    expect(page.locator(".form-body")).to_contain_text("2 år")
    walk.check("consent-form")
    page.check("input[name=channels][value=instagram]")
    draw_signature(page)
    with page.expect_navigation():
        page.click("#consent-submit")
    expect(page.locator("#form-error")).to_have_count(0)
    walk.check("person-with-consent")

    # Upload a real photo and wait for the worker's scan.
    page.goto(base + "/photos/upload")
    walk.check("upload")
    rows = upload_and_wait(page, base, [FACES / "unknown/obama1.jpg"])
    walk.check("upload-done")
    review = rows["obama1.jpg"].locator(".review-link").get_attribute("href")
    assert review is not None
    page.goto(base + "/photos/")
    walk.check("photos")
    page.goto(base + review)
    walk.check("photo")
    card = page.locator(".face-card").first
    card.locator(".person-search").fill("Anna")
    match = card.locator(".person-results .person-option", has_text="Anna Berg")
    match.wait_for(timeout=10_000)
    with page.expect_navigation():
        match.click()
    confirm_everyone_marked(page)
    walk.check("photo-confirmed")

    # A supplier, and the photo marked as theirs from the photo page (it was a bare 404).
    page.goto(base + "/suppliers/new")
    walk.check("supplier-new")
    page.fill("input[name=name]", "Fotograf Lind")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    walk.check("supplier")
    page.goto(base + review)
    box = page.locator("section.card", has=page.locator("select[name=supplier_id]"))
    box.locator("select[name=supplier_id]").select_option(label="Fotograf Lind")
    with page.expect_navigation():
        box.locator("button[type=submit]").click()
    assert re.search(r"/photos/\d+$", page.url), page.url
    expect(page.locator(".flash").first).to_contain_text("leverantör")
    expect(box.locator("select[name=supplier_id] option[selected]")).to_have_text("Fotograf Lind")
    walk.check("photo-with-supplier")
    box.locator("select[name=supplier_id]").select_option(value="")
    with page.expect_navigation():
        box.locator("button[type=submit]").click()

    # The queue: Instagram is cleared and ticked, Facebook is not, with its reason.
    photo_id = review.rstrip("/").rsplit("/", 1)[-1]
    page.goto(base + f"/queue/new?photo_id={photo_id}")
    expect(page.locator("input[name=channels][value=instagram]")).to_be_checked()
    expect(page.locator("input[name=channels][value=facebook]")).not_to_be_checked()
    expect(page.locator(".verdict-channel", has_text="Facebook")).to_contain_text("Anna Berg")
    walk.check("queue-new")
    page.check("input[name=channels][value=facebook]")
    page.fill("textarea[name=caption]", "Välkommen till studion!")
    with page.expect_navigation():
        page.click("form button[type=submit].primary")
    item_url = page.url
    walk.check("queue-item")
    page.goto(base + "/queue/")
    walk.check("queue")
    page.goto(base + "/queue/connections")
    walk.check("connections")
    page.goto(base + "/publications/")
    walk.check("published")

    # Withdrawal, and the removals it leads to.
    page.goto(person_url)
    page.click("a.button[href*=withdraw]")
    walk.check("withdrawal")
    page.check("input[name=channels][value=instagram]")
    with page.expect_navigation():
        page.click("button[type=submit].danger")
    walk.check("after-withdrawal")
    page.goto(base + "/removals/")
    walk.check("removals")
    page.goto(item_url)
    walk.check("queue-item-after-withdrawal")
    page.goto(person_url)
    walk.check("person-withdrawn")

    # A second customer, erased: their page shows only a number, in Swedish.
    page.goto(base + "/people/new")
    page.fill("input[name=name]", "Bo Ek")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/people/\d+$"))
    erased_url = page.url
    erased_id = erased_url.rsplit("/", 1)[-1]
    page.goto(base + f"/people/{erased_id}/erase")
    walk.check("erase")
    page.fill("input[name=confirm_id]", erased_id)
    page.check("input[name=understood]")
    with page.expect_navigation():
        page.click("button[type=submit].danger")
    page.goto(erased_url + "/erase")
    expect(page.locator("h1")).to_have_text(f"Raderad person {erased_id}")
    walk.check("person-erased")

    # Audits: run the quarter's, open its report; the record of processing.
    page.goto(base + "/audits/")
    walk.check("audits")
    page.click("form.run-form button[type=submit]")
    expect(page.locator("form.sign-form")).to_be_visible(timeout=60_000)
    walk.check("audit")
    report = page.locator("a[href$='/report']").first
    if report.count():
        report_url = report.get_attribute("href")
        assert report_url is not None
        page.goto(base + report_url)
        walk.check("audit-report")
    page.goto(base + "/audits/records")
    walk.check("records")

    # Settings, grouped, and its other tabs.
    page.goto(base + "/settings/")
    walk.check("settings")
    page.goto(base + "/settings/users")
    walk.check("users")
    page.fill("input[name=email]", STAFF_EMAIL)
    page.fill("input[name=name]", "Extra Personal")
    page.fill("input[name=password]", STAFF_PASSWORD)
    with page.expect_navigation():
        page.click("form button[type=submit].primary")
    page.goto(base + "/settings/tokens")
    walk.check("tokens")

    # The dashboard once there is data, and the error pages.
    page.goto(base + "/")
    expect(page.locator(".dashboard-tiles")).to_have_count(1)
    expect(page.locator(".first-steps")).to_have_count(0)
    walk.check("dashboard")
    page.goto(base + "/no-such-page")
    walk.check("not-found")
    staff_context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="sv-SE")
    try:
        staff = staff_context.new_page()
        sign_in(staff, base, STAFF_EMAIL, STAFF_PASSWORD)
        staff.goto(base + "/settings/")
        staff_walk = Walk(staff)
        staff_walk.catalogue = walk.catalogue
        staff_walk.check("forbidden")
        walk.english.update(staff_walk.english)
        walk.too_wide.update(staff_walk.too_wide)
        walk.visited += staff_walk.visited
    finally:
        staff_context.close()


def test_no_english_on_a_swedish_page(walk: Walk) -> None:
    assert len(walk.visited) >= 30, walk.visited
    report = "\n".join(f"{page}: " + "; ".join(found) for page, found in walk.english.items())
    assert not walk.english, "English on Swedish pages:\n" + report


def test_no_page_is_wider_than_a_phone(walk: Walk) -> None:
    assert "queue-new" in walk.visited and "audit" in walk.visited
    assert not walk.too_wide, f"wider than 390 px: {walk.too_wide}"


def test_english_is_found_where_it_is() -> None:
    """The check itself: an untranslated catalogue text and loose English words are caught,
    Swedish and the allowed names are not."""
    catalogue = _english_catalogue()
    assert english_in(["Stay signed in on this device"], catalogue)
    assert english_in(["Ansikte 1: the consent does not cover Facebook"], catalogue)
    assert english_in(["Erased person #1"], catalogue)
    assert not english_in(
        ["Förbli inloggad på den här enheten", "Anna Berg", "Instagram"], catalogue
    )
    assert not english_in(["Logga in", "English", "Kraftkällan"], catalogue)
