"""On a phone, in Swedish, with a finger: mark the face the scanner missed, confirm, publish by hand.

A guest at the edge of a group photo is cut by the frame, so the scanner finds only the other
guest. The owner draws the missed face with touch, assigns it to a person with consent, blurs
the other guest, and queues the photo: refused, in Swedish, until she confirms that everyone is
marked. Then it is published by hand, and the post records the faces as she marked them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import Page, expect

from consentcam.models import Face, Photo, Publication
from consentcam.runtime import Runtime
from tests.browser.conftest import (
    attribute,
    person_with_signed_form,
    screenshot,
    sign_in,
    upload_and_wait,
)
from tests.conftest import FACES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# two_people.jpg with its left part cut away: Obama's face (LABELS.json: 253, 47, 408, 202) is
# cut in half by the left edge of the frame, Biden's stays whole.
CUT_AT = 330
MISSED = (0, 47, 408 - CUT_AT, 202)
POST_URL = "https://www.instagram.com/p/drawn-face-1/"


def _photo(tmp_path: Path) -> Path:
    im = Image.open(FACES / "unknown/two_people.jpg").convert("RGB")
    cut = im.crop((CUT_AT, 0, im.width, im.height))
    path = tmp_path / "gruppen-vid-dorren.jpg"
    cut.save(path, "JPEG", quality=92)
    return path


def _found_boxes(page: Page) -> list[tuple[float, float, float, float]]:
    out = []
    for rect in page.locator(".face-boxes rect").all():
        x, y = float(attribute(rect, "x")), float(attribute(rect, "y"))
        w, h = float(attribute(rect, "width")), float(attribute(rect, "height"))
        out.append((x, y, x + w, y + h))
    return out


def _on_screen(page: Page, x: float, y: float, width: int) -> tuple[float, float]:
    """Where a point of the full-resolution photo is on the screen."""
    r = page.locator("#review-image").bounding_box()
    assert r is not None
    k = r["width"] / width
    return r["x"] + x * k, r["y"] + y * k


def _touch_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with one finger (touch events, as a phone sends them)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [dict(zip("xy", start, strict=True))]},
    )
    for i in range(1, 11):
        x = start[0] + (end[0] - start[0]) * i / 10
        y = start[1] + (end[1] - start[1]) * i / 10
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_draw_the_missed_face_with_a_finger_confirm_and_publish_by_hand(
    live_server: tuple[str, Path], browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    base, instance = live_server
    phone = browser_page(390, 844, has_touch=True, is_mobile=True, locale="sv-SE")
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(phone, base)

    source = _photo(tmp_path)
    with Image.open(source) as im:
        width = im.width
    rows = upload_and_wait(phone, base, [source])
    review_url = attribute(rows[source.name].locator(".review-link"), "href")

    # A person with signed consent for Instagram.
    person_with_signed_form(phone, base, "Barack")
    with phone.expect_navigation():
        phone.click("#consent-submit")
    assert re.search(r"/people/\d+", phone.url), phone.url

    phone.goto(base + review_url)
    found = _found_boxes(phone)
    missed_centre = ((MISSED[0] + MISSED[2]) / 2, (MISSED[1] + MISSED[3]) / 2)
    assert not any(
        b[0] <= missed_centre[0] <= b[2] and b[1] <= missed_centre[1] <= b[3] for b in found
    ), "this test needs a face the scanner does not find"
    assert len(found) == 1, found  # Biden, whole
    expect(phone.locator("#confirm-photo")).to_have_text("Alla personer på fotot är markerade")
    screenshot(phone, "review-unconfirmed-390-sv")
    phone.goto(base + "/photos/review")
    expect(phone.locator(f".review-list a[href='{review_url}']")).to_be_visible()
    screenshot(phone, "photos-to-review-390-sv")
    phone.goto(base + review_url)

    # Mark the missed face: a tap places a box, a drag on its corner makes it fit the face.
    phone.locator("#draw-start").tap()
    expect(phone.locator(".face-figure.drawing")).to_be_visible()
    phone.locator("#review-image").scroll_into_view_if_needed()
    phone.touchscreen.tap(*_on_screen(phone, *missed_centre, width))
    expect(phone.locator(".draw-box")).to_be_visible()
    expect(phone.locator("#draw-save")).to_be_enabled()
    placed = [
        int(phone.input_value(f"input[name={n}]")) for n in ("left", "top", "right", "bottom")
    ]
    assert placed[2] - placed[0] == placed[3] - placed[1] >= 16, placed  # a square, centred
    # Moved up by a finger on the box, so its top meets the top of the face ...
    middle = ((placed[0] + placed[2]) / 2, (placed[1] + placed[3]) / 2)
    _touch_drag(
        phone,
        _on_screen(phone, *middle, width),
        _on_screen(phone, middle[0], middle[1] - (placed[1] - MISSED[1]), width),
    )
    moved = [int(phone.input_value(f"input[name={n}]")) for n in ("left", "top", "right", "bottom")]
    assert abs(moved[1] - MISSED[1]) <= 12 and moved[3] - moved[1] == placed[3] - placed[1], moved
    # ... and its corner dragged to the bottom right of the face.
    grip = phone.locator(".draw-grip").bounding_box()
    assert grip is not None
    _touch_drag(
        phone,
        (grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2),
        _on_screen(phone, MISSED[2], MISSED[3], width),
    )
    values = [
        int(phone.input_value(f"input[name={n}]")) for n in ("left", "top", "right", "bottom")
    ]
    assert values[0] <= MISSED[0] + 10 and abs(values[1] - MISSED[1]) <= 12, values
    assert abs(values[2] - MISSED[2]) <= 12 and abs(values[3] - MISSED[3]) <= 12, values
    screenshot(phone, "review-drawing-390-sv")
    with phone.expect_navigation():
        phone.locator("#draw-save").tap()
    expect(phone.locator(".flash").first).to_contain_text("Ansikte 2 är markerat")
    drawn_card = phone.locator(".face-card").nth(1)
    expect(drawn_card).to_contain_text("markerat för hand")
    expect(phone.locator(".face-boxes rect")).to_have_count(2)

    # The drawn face is Barack; the other guest is blurred.
    drawn_card.locator(".person-search").fill("Bar")
    match = drawn_card.locator(".person-results .person-option", has_text="Barack")
    match.wait_for(timeout=10_000)
    with phone.expect_navigation():
        match.tap()
    with phone.expect_navigation():
        phone.locator(".face-card").first.locator(".blur-form button").tap()
    reasons = phone.locator(".verdict[data-channel=instagram]")
    expect(reasons).to_contain_text(
        "Ingen har bekräftat än att alla personer på fotot är markerade."
    )

    # Queued before the confirmation: refused, with the reason in Swedish.
    phone.locator("#queue-photo").tap()
    phone.wait_for_url(re.compile(r"/queue/new\?photo_id=\d+$"))
    phone.uncheck("input[name=channels][value=facebook]")
    phone.check("input[name=channels][value=instagram]")
    with phone.expect_navigation():
        phone.locator("form button[type=submit].primary").tap()
    item_url = phone.url
    assert re.search(r"/queue/\d+$", item_url), item_url
    expect(phone.locator("ul.reasons")).to_contain_text(
        "Ingen har bekräftat än att alla personer på fotot är markerade."
    )
    assert phone.locator("form[action$='/publish'] button").count() in (0, 1)
    screenshot(phone, "queue-blocked-unconfirmed-390-sv")

    # One tap confirms; the waiting item is ready at once.
    phone.goto(base + review_url)
    with phone.expect_navigation():
        phone.locator("#confirm-photo").tap()
    expect(phone.locator("#confirmation.confirmed")).to_contain_text(
        "Bekräftat av Ann-Christin Sundell"
    )
    expect(phone.locator(".verdict[data-channel=instagram]")).to_contain_text("Godkänt")
    screenshot(phone, "review-confirmed-390-sv")
    phone.goto(item_url)
    expect(phone.locator("ul.reasons")).to_have_count(0)

    # Published by hand: publish now, download the cleared copy, paste the link.
    with phone.expect_navigation():
        phone.locator("form[action$='/publish'] button").tap()
    download = phone.locator("form[action*='/download'] button.primary")
    # The worker takes the item up; the page polls and reloads itself when it has.
    expect(download).to_be_visible(timeout=90_000)
    with phone.expect_download() as got:
        download.tap()
    assert got.value.path().read_bytes()[:3] == b"\xff\xd8\xff"
    phone.fill("input[name=url]", POST_URL)
    with phone.expect_navigation():
        phone.locator("input[name=url] >> xpath=ancestor::form//button[@type='submit']").tap()
    expect(phone.locator(f"a[href='{POST_URL}']")).to_have_count(1)
    assert errors == []

    # The same page on a laptop, and the list of photos to review (empty now) on the phone.
    laptop = browser_page(1280, 800)
    sign_in(laptop, base)
    laptop.goto(base + review_url)
    expect(laptop.locator("#confirmation.confirmed")).to_be_visible()
    screenshot(laptop, "review-confirmed-1280")
    # With a mouse: drag out a box over a fifth of the photo each way, then think better of it.
    laptop.locator("#draw-start").click()
    r = laptop.locator("#review-image").bounding_box()
    assert r is not None
    laptop.mouse.move(r["x"] + r["width"] * 0.5, r["y"] + r["height"] * 0.5)
    laptop.mouse.down()
    laptop.mouse.move(r["x"] + r["width"] * 0.7, r["y"] + r["height"] * 0.7, steps=8)
    laptop.mouse.up()
    box = [int(laptop.input_value(f"input[name={n}]")) for n in ("left", "top", "right", "bottom")]
    assert abs((box[2] - box[0]) - width * 0.2) <= width * 0.03, box
    assert abs(box[0] - width * 0.5) <= width * 0.03, box
    laptop.locator("#draw-cancel").click()
    expect(laptop.locator(".draw-box")).to_have_count(0)
    expect(laptop.locator("#draw-start")).to_be_visible()
    phone.goto(base + "/photos/review")
    expect(phone.locator("#nothing-to-review")).to_be_visible()

    rt = Runtime.build(instance)
    try:
        with rt.sessions() as s:
            pub = s.scalar(sa.select(Publication).where(Publication.url == POST_URL))
            assert pub is not None and pub.faces_confirmed_at is not None
            photo = s.get(Photo, pub.photo_id)
            assert photo is not None
            faces = {f.id: f for f in s.scalars(sa.select(Face).where(Face.photo_id == photo.id))}
            how = {faces[pf.face_id].source: pf.how for pf in pub.faces}
            assert how == {"manual": "consent", "detected": "blur"}
    finally:
        rt.close()
