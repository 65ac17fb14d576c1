"""In a real browser: run the quarter's audit (with a re-scan in the worker) and sign it off."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from consentcam.domain.audit import Quarter
from consentcam.models import utcnow
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "laptop"])
def test_run_and_sign_off_an_audit(
    live_server: tuple[str, Path], browser_page: Callable[..., Page], size: tuple[int, int]
) -> None:
    base_url, _instance = live_server
    page = browser_page(*size)
    sign_in(page, base_url)
    page.goto(base_url + "/audits/")
    quarter = str(Quarter.current(utcnow()))
    q = Quarter.current(utcnow())
    expect(page.locator(".qtile.due").first).to_have_text(
        re.compile(r"^\s*" + re.escape(f"Q{q.quarter} {q.year}")), use_inner_text=True
    )
    assert str(q) == quarter
    screenshot(page, f"audits-index-{size[0]}")
    page.check("input[name=rescan]")
    page.click("form.run-form button[type=submit]")
    # The re-scan runs in the worker; the page polls and reloads when it is done.
    expect(page.locator("form.sign-form")).to_be_visible(timeout=60_000)
    expect(page.locator("main")).to_contain_text("Nothing to act on")
    report_url = page.get_attribute("a.button.primary", "href")
    assert report_url is not None
    screenshot(page, f"audits-detail-{size[0]}")
    page.fill("input[name=signer_name]", "Ann-Christin Sundell")
    page.click("form.sign-form button[type=submit]")
    # The browser refuses to submit without the tick.
    expect(page.locator("form.sign-form")).to_have_count(1)
    page.check("input[name=reviewed]")
    page.click("form.sign-form button[type=submit]")
    expect(page.locator("#signed")).to_contain_text("Ann-Christin Sundell")
    expect(page.locator("input[name=signer_name]")).to_have_count(0)
    screenshot(page, f"audits-signed-{size[0]}")
    # The stored report opens on its own, checked against its hash.
    page.goto(base_url + report_url)
    expect(page.locator("h1")).to_contain_text(f"Quarterly audit Q{q.quarter} {q.year}")
    screenshot(page, f"audits-report-{size[0]}")
    page.goto(base_url + "/audits/")
    # Signed before the quarter is over: it covers the quarter up to today, not all of it.
    expect(page.locator(".qtile").first).to_contain_text("signed up to")
    screenshot(page, f"audits-index-signed-{size[0]}")
