"""In a real browser: run the quarter's audit (with a re-scan in the worker) and sign it off."""

from __future__ import annotations

import pytest

from consentcam.domain.audit import Quarter
from consentcam.models import utcnow
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "laptop"])
def test_run_and_sign_off_an_audit(live_server, browser_page, size) -> None:
    base_url, _instance = live_server
    page = browser_page(*size)
    sign_in(page, base_url)
    page.goto(base_url + "/audits/")
    quarter = str(Quarter.current(utcnow()))
    assert page.locator(".qtile.due").first.inner_text().startswith(quarter)
    screenshot(page, f"audits-index-{size[0]}")
    page.check("input[name=rescan]")
    page.click("form.run-form button[type=submit]")
    # The re-scan runs in the worker; the page polls and reloads when it is done.
    page.wait_for_selector("form.sign-form", timeout=60_000)
    assert "Nothing to act on" in page.inner_text("main")
    report_url = page.get_attribute("a.button.primary", "href")
    screenshot(page, f"audits-detail-{size[0]}")
    page.fill("input[name=signer_name]", "Ann-Christin Sundell")
    page.click("form.sign-form button[type=submit]")
    # The browser refuses to submit without the tick.
    assert page.locator("form.sign-form").count() == 1
    page.check("input[name=reviewed]")
    page.click("form.sign-form button[type=submit]")
    page.wait_for_selector("#signed")
    assert "Ann-Christin Sundell" in page.inner_text("#signed")
    assert page.locator("input[name=signer_name]").count() == 0
    screenshot(page, f"audits-signed-{size[0]}")
    # The stored report opens on its own, checked against its hash.
    page.goto(base_url + report_url)
    assert "Quarterly audit " + quarter in page.inner_text("h1")
    screenshot(page, f"audits-report-{size[0]}")
    page.goto(base_url + "/audits/")
    assert "✓" in page.locator(".qtile").first.inner_text()
    screenshot(page, f"audits-index-signed-{size[0]}")
