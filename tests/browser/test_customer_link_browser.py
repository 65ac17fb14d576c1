"""Browser test, two contexts: the owner shows a consent link, the customer signs on their phone,
gets the receipt by e-mail (a real SMTP server), and withdraws Instagram on their own page."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from consentcam.domain.types import ScanState
from consentcam.models import Face, Publication, PublicationFace, QueueItem, RemovalTask
from consentcam.runtime import Runtime
from consentcam.services import people, photos
from tests.browser.conftest import draw_signature, screenshot, sign_in
from tests.conftest import FACES
from tests.customer.smtp import Inbox, html_of, smtp_server, text_of
from tests.waits import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\nsignature"
POST_URL = "https://www.instagram.com/p/lena"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def live_server_settings(smtp: tuple[str, Inbox]) -> dict[str, str]:
    # The server answers 127.0.0.1 alone, so links may take their address from the request.
    return {"SMTP_URL": smtp[0], "MAIL_FROM": "studio@example.com", "TRUSTED_HOSTS": "127.0.0.1"}


def seed(instance: Path) -> dict[str, int]:
    """Lena signed on paper for Instagram; a photo of her is live there and queued again."""
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            person = people.add_person(s, "Lena Berg")
            people.give_consent(
                s,
                rt,
                person,
                channels=["instagram"],
                evidence=PNG,
                evidence_mime="image/png",
                evidence_kind="scan",
            )
            photo = photos.ingest(
                s, rt, (FACES / "unknown" / "obama1.jpg").read_bytes(), "obama1.jpg"
            ).photo
            photo.scan_state = ScanState.DONE
            face = Face(
                photo=photo,
                number=1,
                left=10,
                top=10,
                right=60,
                bottom=60,
                state="confirmed",
                person_id=person.id,
            )
            s.add(face)
            s.flush()
            post = Publication(
                photo_id=photo.id, channel="instagram", publisher="manual", url=POST_URL, live=True
            )
            s.add(post)
            s.flush()
            s.add(
                PublicationFace(
                    publication_id=post.id, face_id=face.id, person_id=person.id, how="consent"
                )
            )
            item = QueueItem(photo_id=photo.id, channels="instagram", status="ready", blockers="[]")
            s.add(item)
            s.commit()
            return {"lena": person.id, "post": post.id, "item": item.id}
    finally:
        rt.close()


def qr_text(page: Page) -> str | None:
    """The text of the QR code on the page, read back from its pixels with zbarimg."""
    if not shutil.which("zbarimg"):
        return None
    src = page.locator("#qr-image").get_attribute("src")
    assert src is not None
    png = base64.b64decode(src.split(",", 1)[1])
    done = subprocess.run(
        ["zbarimg", "-q", "--raw", "-"], input=png, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().strip()


def test_the_customer_signs_on_their_phone_and_withdraws_instagram(
    live_server: tuple[str, Path],
    browser_page: Callable[..., Page],
    smtp: tuple[str, Inbox],
) -> None:
    base_url, instance = live_server
    _, inbox = smtp
    ids = seed(instance)

    # 1. The owner opens a consent link for Lena on the laptop.
    owner = browser_page(1280, 800)
    sign_in(owner, base_url)
    owner.goto(f"{base_url}/people/{ids['lena']}")
    owner.click("#new-consent-link")
    owner.select_option("select[name=language]", "sv")
    owner.click("#make-link")
    expect(owner.locator("#qr-image")).to_be_visible()
    url = owner.locator("#link-url").input_value()
    assert re.fullmatch(re.escape(base_url) + r"/c/[A-Za-z0-9_-]{40,}", url)
    decoded = qr_text(owner)
    if decoded is not None:
        assert decoded == url
    screenshot(owner, "customer-link-qr-1280x800")
    owner.evaluate("window.notReloaded = true")

    # 2. Lena opens the QR code's URL on her phone (Swedish, touch), signs and sends.
    phone = browser_page(
        390, 844, locale="sv-SE", is_mobile=True, has_touch=True, device_scale_factor=2
    )
    phone.goto(decoded or url)
    expect(phone.locator("h1")).to_have_text("Samtycke till att publicera foton")
    expect(phone.locator(".form-body")).to_contain_text("Kraftkällan")
    expect(phone.locator(".main-nav")).to_have_count(0)
    screenshot(phone, "customer-sign-390x844")
    phone.locator("input[name=channels][value=instagram]").tap()
    phone.locator("input[name=channels][value=facebook]").tap()
    phone.fill("input[name=email]", "lena@example.com")
    draw_signature(phone)
    expect(phone.locator("#signature-status")).to_have_text("Underskrivet")
    phone.locator("#consent-submit").tap()
    expect(phone.locator("h1")).to_have_text("Tack! Ditt samtycke är sparat")
    expect(phone.locator("#receipt")).to_contain_text("Instagram")
    screenshot(phone, "customer-receipt-390x844")

    # 3. The owner's page shows the new consent without a reload.
    expect(owner.locator("#link-status")).to_contain_text(
        "Lena Berg has signed. The consent is recorded.", timeout=30_000
    )
    expect(owner.locator("#qr-box")).to_be_hidden()
    expect(owner.locator("#link-person")).to_be_visible()
    assert owner.evaluate("window.notReloaded === true")
    screenshot(owner, "customer-link-signed-1280x800")

    # 4. The receipt arrives at the SMTP server, in Swedish, with her own link.
    (message,) = inbox.wait_for(1, timeout=60)
    assert message["To"] == "lena@example.com"
    assert message["Subject"] == "Ditt samtycke till Kraftkällan: kvitto"
    text = text_of(message)
    assert "Instagram, Facebook" in text
    found = re.search(re.escape(base_url) + r"/m/[A-Za-z0-9_-]{40,}", text)
    assert found is not None
    my_url = found.group(0)
    assert my_url in html_of(message)

    # 5. Its link opens her own page.
    phone.goto(my_url)
    expect(phone.locator("h1")).to_have_text("Ditt samtycke, Lena Berg")
    expect(phone.locator(f"#posts a[href='{POST_URL}']")).to_be_visible()
    screenshot(phone, "customer-page-390x844")

    # 6. She withdraws Instagram: one tap and one confirmation.
    phone.locator("#withdraw-instagram").tap()
    expect(phone.locator("h1")).to_have_text("Återkalla ditt samtycke för Instagram?")
    screenshot(phone, "customer-withdraw-390x844")
    phone.locator("#confirm-withdraw").tap()
    expect(phone.locator(".flash-success")).to_contain_text(
        "Ditt samtycke är återkallat för Instagram."
    )
    expect(phone.locator(".my-channel[data-channel=instagram] .state")).to_have_text(
        "Inte tillåtet"
    )
    expect(phone.locator(".my-channel[data-channel=facebook] .state")).to_have_text("Tillåtet")
    screenshot(phone, "customer-withdrawn-390x844")

    # 7. A removal task for the live Instagram post, and the queued post is blocked.
    owner.goto(f"{base_url}/removals/?status=open&person_id={ids['lena']}")
    expect(owner.locator(f"a[href='{POST_URL}']").first).to_be_visible()
    owner.goto(base_url + "/")
    expect(owner.locator("#customer-requests")).to_contain_text("Lena Berg")
    screenshot(owner, "customer-dashboard-1280x800")
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            task = s.scalar(sa.select(RemovalTask).where(RemovalTask.publication_id == ids["post"]))
            assert task is not None and task.status == "open" and task.method == "manual"
            item = s.get(QueueItem, ids["item"])
            assert item is not None
            assert item.status == "blocked"
    finally:
        rt.close()
    # The owner hears of it by e-mail as well.
    notice = wait_until(
        lambda: [m for m in inbox.messages if m["To"] == "owner@example.com"],
        timeout=60,
        message="the owner's notice did not arrive",
    )[0]
    assert "Lena Berg" in notice["Subject"]


def test_the_qr_code_fills_the_owners_phone_for_a_new_customer(
    live_server: tuple[str, Path], browser_page: Callable[..., Page]
) -> None:
    """On the studio's phone, in Swedish: the QR code of a link for a customer not added yet."""
    base_url, _ = live_server
    owner = browser_page(390, 844, locale="sv-SE", is_mobile=True, has_touch=True)
    sign_in(owner, base_url)
    owner.goto(base_url + "/people/")
    owner.locator("#new-customer-link").tap()
    expect(owner.locator("input[name=email]")).to_be_visible()
    screenshot(owner, "customer-link-new-390x844")
    owner.locator("#make-link").tap()
    image = owner.locator("#qr-image")
    expect(image).to_be_visible()
    box = image.bounding_box()
    assert box is not None and box["width"] >= 300  # most of the 390 px screen
    expect(owner.locator("#link-status")).to_have_text(
        re.compile("Väntar på att kunden skriver under")
    )
    screenshot(owner, "customer-link-qr-390x844")
    # The customer writes their own name; they are added when they sign.
    phone = browser_page(390, 844, locale="sv-SE", is_mobile=True, has_touch=True)
    phone.goto(owner.locator("#link-url").input_value())
    phone.fill("input[name=name]", "Omar Said")
    phone.locator("input[name=channels][value=website]").tap()
    draw_signature(phone)
    phone.locator("#consent-submit").tap()
    expect(phone.locator("h1")).to_have_text("Tack! Ditt samtycke är sparat")
    expect(owner.locator("#link-status")).to_have_text(
        re.compile("Omar Said har skrivit under"), timeout=30_000
    )
    owner.locator("#link-person").tap()
    expect(owner.locator("h1")).to_contain_text("Omar Said")
