"""Driving the real app in Debian's Chromium with Playwright: where Chromium is, opening the page,
uploading. Without Chromium the browser tests are skipped locally and fail in CI (CI=true), where
.ci/run installs it. Screenshots go under $TEST_ARTIFACTS (default: test-artifacts/, git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
TIMEOUT_MS = 60_000


def chromium_path() -> str:
    """Debian's chromium; a skip without it locally, a failure in CI."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


def open_page(browser, url: str, width: int = 1400, height: int = 1800):
    """A new tab on the app, once its image input is there."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="domcontentloaded")
    page.locator("#image").wait_for()
    return page


def upload(page, path: Path) -> None:
    """Puts a file into the page's image input, as a visitor's upload does."""
    page.locator("#image input[type=file]").set_input_files(str(path))


STATUS_LOG = """() => {
  window.statusLog = [];
  const status = () => (document.querySelector('#status .prose') || document.querySelector('#status'))?.innerText.trim() || '';
  let last = status();
  new MutationObserver(() => { const now = status(); if (now !== last) { last = now; window.statusLog.push(now); } })
    .observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def upload_and_finish(page, path: Path) -> None:
    """Uploads and waits until this upload's stream has ended ("Explained with", reached after it
    started, even when the previous image ended with the same words) and its map is shown."""
    page.evaluate(STATUS_LOG)
    upload(page, path)
    page.wait_for_function("() => window.statusLog.some(s => s.includes('Explained with'))", timeout=TIMEOUT_MS)
    page.wait_for_function("() => { const i = document.querySelector('#overlay img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
