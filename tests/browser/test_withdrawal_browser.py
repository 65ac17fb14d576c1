"""Browser test: the owner withdraws Instagram consent on a phone and closes a manual removal."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from consentcam.domain.types import ScanState
from consentcam.models import Face, Publication, PublicationFace, QueueItem, RemovalTask, utcnow
from consentcam.runtime import Runtime
from consentcam.services import people, photos
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\nsignature"


def seed(instance: Path) -> dict[str, int]:
    """Lena posted by hand on Instagram and Facebook and queued again; Omar's post is overdue."""
    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            ids: dict[str, int] = {}
            for name, file in (("Lena Berg", "obama1.jpg"), ("Omar Said", "johnsnow_test1.jpg")):
                person = people.add_person(s, name)
                people.give_consent(
                    s,
                    rt,
                    person,
                    channels=["instagram", "facebook"],
                    evidence=PNG,
                    evidence_mime="image/png",
                    evidence_kind="signature",
                )
                photo = photos.ingest(s, rt, (FACES / "unknown" / file).read_bytes(), file).photo
                photo.scan_state = ScanState.DONE
                photo.faces_confirmed_at = utcnow()
                photo.faces_confirmed_by = "owner@example.com"
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
                for channel in ("instagram", "facebook"):
                    pub = Publication(
                        photo_id=photo.id,
                        channel=channel,
                        publisher="manual",
                        url=f"https://www.{channel}.com/p/{name.split()[0].lower()}",
                        live=True,
                        faces_confirmed_at=photo.faces_confirmed_at,
                    )
                    s.add(pub)
                    s.flush()
                    s.add(
                        PublicationFace(
                            publication_id=pub.id,
                            face_id=face.id,
                            person_id=person.id,
                            how="consent",
                        )
                    )
                    ids[f"{name.split()[0].lower()}_{channel}"] = pub.id
                ids[name.split()[0].lower()] = person.id
                if name == "Lena Berg":
                    s.add(
                        QueueItem(
                            photo_id=photo.id, channels="instagram", status="ready", blockers="[]"
                        )
                    )
            s.add(
                RemovalTask(
                    publication_id=ids["omar_facebook"],
                    person_id=ids["omar"],
                    method="manual",
                    due_at=utcnow() - timedelta(days=3),
                )
            )
            s.commit()
            return ids
    finally:
        rt.close()


def test_withdraw_instagram_and_close_the_removal(
    live_server: tuple[str, Path], browser_page: Callable[..., Page]
) -> None:
    base_url, instance = live_server
    ids = seed(instance)
    for width, height in ((390, 844), (1280, 800)):
        page = browser_page(width, height)
        sign_in(page, base_url)
        tag = f"{width}x{height}"
        # The start page shows the overdue removal in red, and the nav carries a count.
        page.goto(base_url + "/")
        expect(page.locator(".main-nav .badge-bad").first).to_have_text(re.compile(r"^\s*[12]\s*$"))
        screenshot(page, f"withdrawal-dashboard-{tag}")
        if width == 390:
            page.goto(f"{base_url}/people/{ids['lena']}/withdraw")
            screenshot(page, f"withdrawal-form-{tag}")
            page.check("input[name=channels][value=instagram]")
            page.click("button[type=submit].danger")
            page.wait_for_url(lambda url: "/removals/" in url)
            flash = page.locator(".flash").first
            expect(flash).to_contain_text("Withdrawn for Instagram.")
            expect(flash).to_contain_text("1 queued post blocked.")
            expect(flash).to_contain_text("1 post must come down by")
            expect(flash).to_contain_text("1 needs you (links below)")
            assert page.locator("a[href='https://www.instagram.com/p/lena']").count() >= 1
            screenshot(page, f"withdrawal-summary-{tag}")
        # Close Lena's Instagram removal (first open task of hers).
        page.goto(f"{base_url}/removals/?status=open&person_id={ids['lena']}")
        if page.locator("a.button.primary", has_text="I have taken it down").count():
            page.locator("a.button.primary", has_text="I have taken it down").first.click()
            screenshot(page, f"removal-detail-{tag}")
            page.fill("textarea[name=note]", "Archived from the phone")
            page.click("button[type=submit].primary")
            done = page.locator(".removal-done")
            expect(done).to_contain_text("Taken down by Ann-Christin Sundell on")
            expect(done).to_contain_text("Archived from the phone")
            screenshot(page, f"removal-closed-{tag}")
        page.goto(base_url + "/removals/?status=all")
        screenshot(page, f"removal-list-{tag}")
        expect(page.locator(".removal-overdue")).to_have_count(1)
