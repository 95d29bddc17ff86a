"""Driving the real app in Debian's Chromium with Playwright: where Chromium is, opening the page,
uploading. Without Chromium the browser tests are skipped locally and fail in CI (CI=true), where
.ci/run installs it. Screenshots go under $TEST_ARTIFACTS (default: test-artifacts/, git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import ROOT

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
