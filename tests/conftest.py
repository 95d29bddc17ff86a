"""Fixtures shared by the tests: the small reference-saved model and its processor, the bundled
model, the real app started offline, and Chromium. Helpers live in `helpers.py` and `browser.py`."""

from __future__ import annotations

import pytest
import torch

from explorer.server import CHROMIUM_FLAGS, offline_env, running_app
from tests.browser import chromium_path
from tests.helpers import BUNDLED, MODELS
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def model() -> ViTHybridForImageClassification:
    """The small reference-saved classifier (64 px input, 4x4 tokens, 5 labels)."""
    return ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")


@pytest.fixture(scope="module")
def processor() -> ViTHybridImageProcessor:
    """A processor for that model: shortest edge and crop 64, mean = std = 0.5."""
    return ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64, image_mean=0.5, image_std=0.5)


@pytest.fixture(scope="session")
def bundled() -> tuple[ViTHybridForImageClassification, ViTHybridImageProcessor]:
    """The bundled scene model and its processor, as the app loads them."""
    return ViTHybridForImageClassification.from_pretrained(BUNDLED), ViTHybridImageProcessor.from_pretrained(BUNDLED)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> str:
    """The real app, started offline with an empty Hub cache (so on the bundled model)."""
    root = tmp_path_factory.mktemp("app")
    with running_app([], offline_env(root / "hub", GRADIO_TEMP_DIR=str(root / "gradio")), root / "app.log") as url:
        url.temp_dir = root / "gradio"  # where Gradio keeps uploads
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright, for one test module (Playwright's sync API keeps an
    event loop running while it is open, which code that calls asyncio.run cannot share)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
