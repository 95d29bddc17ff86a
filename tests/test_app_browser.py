"""A real browser (Debian's Chromium, driven by Playwright) against the real app on the bundled model.

Without Chromium the test is skipped locally and fails in CI (CI=true), where .ci/run installs it.
The screenshots are saved under $TEST_ARTIFACTS (default: test-artifacts/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
TIMEOUT_MS = 60_000


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def page(app_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("#image-input").wait_for()
            yield page
        finally:
            browser.close()


def overlay_bytes(page) -> bytes:
    src = page.locator("#overlay img").get_attribute("src")
    return page.request.get(src).body()


def upload(page, path: Path) -> None:
    page.locator("#image-input input[type=file]").set_input_files(str(path))


def test_upload_shows_top5_and_overlay_and_layer_changes_the_map(page):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    upload(page, EXAMPLES / "chelsea.png")
    expect(page.locator("#status")).to_contain_text("Explained with", timeout=TIMEOUT_MS)
    text = page.locator("#predictions").inner_text()
    shown = [name for name in ("circle", "square", "triangle", "star", "cross", "ring") if name in text]
    assert len(shown) == 5, text  # the bundled model's six classes, the top five shown
    expect(page.locator("#overlay img")).to_be_visible()
    expect(page.locator("#caption")).to_contain_text("rollout up to layer 4/4")
    before = overlay_bytes(page)
    page.screenshot(path=str(ARTIFACTS / "browser-upload.png"), full_page=True)

    layer = page.locator("#layer input[type=number]")
    layer.fill("1")
    layer.press("Enter")
    expect(page.locator("#caption")).to_contain_text("rollout up to layer 1/4", timeout=TIMEOUT_MS)  # same event as the image
    assert overlay_bytes(page) != before, "the map did not change with the layer"
    page.screenshot(path=str(ARTIFACTS / "browser-layer1.png"), full_page=True)


def test_a_text_file_gets_a_message_and_the_page_keeps_working(page, tmp_path):
    from playwright.sync_api import expect

    bad = tmp_path / "notes.png"
    bad.write_text("these are my notes, not a picture\n")
    upload(page, bad)
    expect(page.locator("#status")).to_contain_text("is a text file, not an image", timeout=TIMEOUT_MS)
    upload(page, EXAMPLES / "coffee.jpg")
    expect(page.locator("#status")).to_contain_text("Explained with", timeout=TIMEOUT_MS)
