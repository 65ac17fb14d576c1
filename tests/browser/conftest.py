"""Browser fixtures: a real `consentcam serve` on 127.0.0.1 with a fresh instance, and Chromium pages."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.hardening.servers import answers, init_instance
from tests.waits import wait_until

# Every expect() retries for up to 15 s: pages are checked as they settle on a busy machine.
expect.set_options(timeout=15_000)

OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "owner-password-123"
BUSINESS = "Kraftkällan"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"consentcam serve exited early:\n{log.read_text()[-3000:]}")
        return answers(url)

    wait_until(up, timeout=timeout, interval=0.3, message=lambda: log.read_text()[-3000:])


@pytest.fixture
def live_server_settings() -> dict[str, str]:
    """Extra settings for the live server (a test module overrides this fixture to add some)."""
    return {}


@pytest.fixture
def live_server(tmp_path: Path, live_server_settings: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """Run `consentcam serve` (web + its own worker) on a free port with a fresh instance.

    Yields (base_url, instance_path). The owner is OWNER_EMAIL / OWNER_PASSWORD. The settings
    of ``live_server_settings`` are given to the server as CONSENTCAM_* variables.
    """
    with serving(tmp_path, live_server_settings) as server:
        yield server


@contextmanager
def serving(
    tmp_path: Path, live_server_settings: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """The live server of `live_server`, for fixtures of a wider scope (a module's walk)."""
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTCAM_")}
    # `consentcam init` in this process (no interpreter to start): OWNER_EMAIL, OWNER_PASSWORD.
    init_instance(instance, "--owner-name", "Ann-Christin Sundell", env=env)
    extra = live_server_settings or {}
    env.update({f"CONSENTCAM_{key}": str(value) for key, value in extra.items()})
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consentcam",
                "--instance",
                str(instance),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(base_url, proc, log)
        yield base_url, instance
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the whole test session."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: `browser_page(width, height, **context_options)` returns a fresh page (own cookies)."""
    contexts: list[BrowserContext] = []

    def make(width: int = 1280, height: int = 800, **options: Any) -> Page:
        options.setdefault("locale", "en-GB")
        context = chromium.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(
    page: Page, base_url: str, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD
) -> None:
    """Sign in through the real login form."""
    page.goto(base_url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/login" not in url)


def upload_and_wait(page: Page, base_url: str, files: list[Path]) -> dict[str, Locator]:
    """Upload ``files`` on the upload page and wait until the worker has scanned them all (the
    page follows the scans without a reload); the upload rows by file name."""
    page.goto(base_url + "/photos/upload")
    page.set_input_files("#file-input", [str(f) for f in files])
    page.locator(".upload-item[data-scan=done]").nth(len(files) - 1).wait_for(timeout=400_000)
    rows = page.locator(".upload-item")
    return {rows.nth(i).locator(".name").inner_text(): rows.nth(i) for i in range(len(files))}


def confirm_everyone_marked(page: Page) -> None:
    """On a photo's review page: confirm that everyone in it is marked (the owner's one tap).

    Nothing is cleared before this, so every flow that publishes a photo goes through it.
    """
    button = page.locator("#confirm-photo")
    button.scroll_into_view_if_needed()
    with page.expect_navigation():
        button.click()
    page.locator("#confirmation.confirmed").wait_for()


def draw_signature(page: Page) -> None:
    """Draw a signature on the consent pad."""
    canvas = page.locator("#signature-canvas")
    # Centre it: at the bottom edge the sticky save bar would take the pointer instead.
    canvas.evaluate("element => element.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    assert box is not None
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 20):
        page.mouse.move(x + w * (0.1 + 0.04 * i), y + h * (0.6 - 0.3 * (i % 2)), steps=2)
    page.mouse.up()


def person_with_signed_form(
    page: Page, base_url: str, name: str, *, biometric: bool = False
) -> str:
    """Add a person on the people pages and fill in their consent form for Instagram (and
    biometric use when asked), signed on the pad but not yet submitted; the person's page URL."""
    page.goto(base_url + "/people/new")
    page.fill("input[name=name]", name)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/people/\d+$"))
    person_url = page.url
    page.goto(person_url + "/consents/new")
    page.check("input[name=channels][value=instagram]")
    if biometric:
        page.check("input[name=biometric]")
    draw_signature(page)
    return person_url


def attribute(element: Locator, name: str) -> str:
    """The element's attribute ``name``, which must be there."""
    value = element.get_attribute(name)
    assert value is not None, f"no {name} attribute"
    return value


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
