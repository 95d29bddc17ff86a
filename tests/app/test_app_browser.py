"""A real browser (Debian's Chromium, driven by Playwright) against the real app on the bundled model.

Without Chromium the test is skipped locally and fails in CI (CI=true), where .ci/run installs it.
The screenshots are saved under $TEST_ARTIFACTS (default: test-artifacts/).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from explain import METHODS
from tests.browser import ARTIFACTS, TIMEOUT_MS, open_page, upload
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser, app_url):
    return open_page(browser, app_url)


def overlay_bytes(page) -> bytes:
    src = page.locator("#overlay img").get_attribute("src")
    return page.request.get(src).body()


def upload_and_wait(page, path: Path, top: str) -> None:
    """Uploads and waits until the predictions lead with `top` (the status line may still show
    the previous image's "Explained with", so it cannot tell the new answer has arrived)."""
    upload(page, path)
    page.wait_for_function(
        "top => { const e = document.querySelector('#predictions'); if (!e) return false;"
        " const lines = e.innerText.split('\\n').map(s => s.trim()).filter(s => s && s !== 'Top predictions');"
        " return lines[0] === top; }",
        arg=top, timeout=TIMEOUT_MS,
    )


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
    expect(page.locator("#fallback_note")).to_contain_text("shows the bundled shape-scene model")  # offline here

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
    expect(page.locator("#message")).to_contain_text("is a text file, not an image", timeout=TIMEOUT_MS)
    upload(page, EXAMPLES / "coffee.jpg")
    expect(page.locator("#status")).to_contain_text("Explained with", timeout=TIMEOUT_MS)


def test_the_map_downloads_as_png_and_the_numbers_as_json(page, tmp_path):
    import json

    upload_and_wait(page, EXAMPLES / "scene-star.png", "star")
    page.wait_for_timeout(1500)  # the PNG is written just after the map is shown
    with page.expect_download() as download:
        page.locator("#png_download").click()
    png = tmp_path / "map.png"
    download.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and download.value.suggested_filename.endswith(".png")
    with page.expect_download() as download:
        page.locator("#json_download").click()
    record = json.loads(download.value.path().read_text())
    assert record["predictions"][0]["label"] == "star" and record["maps"]


def test_measure_faithfulness_draws_the_curves(page):
    from playwright.sync_api import expect

    page.locator("#faithfulness").get_by_text("Measure faithfulness").first.click()
    page.locator("#measure").click()
    expect(page.locator("#measure_note")).to_contain_text("Deletion area", timeout=TIMEOUT_MS)
    expect(page.locator("#curves img")).to_be_visible()


@pytest.fixture(scope="module")
def two_model_app(tmp_path_factory):
    """The app offered three models: the bundled one (default), a tiny one, and a broken one."""
    import json

    from explorer.server import offline_env, running_app
    from tests.helpers import MODELS, ROOT

    root = tmp_path_factory.mktemp("two-models")
    broken = shutil.copytree(MODELS / "same_padding", root / "broken")
    (broken / "config.json").write_text(json.dumps({**json.loads((broken / "config.json").read_text()), "hidden_size": 10**9}))
    models = [str(ROOT / "assets" / "model"), str(MODELS / "same_padding"), str(broken)]
    with running_app([arg for m in models for arg in ("--model", m)], offline_env(root / "hub"), root / "app.log") as url:
        yield url, models


def pick_model(page, name: str) -> None:
    page.locator("#model input").click()
    page.get_by_role("option", name=name).click()


def test_each_visitor_keeps_their_own_model_and_a_broken_one_is_refused(browser, two_model_app):
    from playwright.sync_api import expect

    url, (_, tiny, broken) = two_model_app
    a, b = open_page(browser, url), open_page(browser, url)
    try:
        pick_model(a, tiny)
        expect(a.locator("#message")).to_contain_text(f"Now using {tiny}")
        for page in (a, b):
            upload(page, EXAMPLES / "coffee.jpg")
            expect(page.locator("#status")).to_contain_text("Explained with")
        expect(a.locator("#predictions")).to_contain_text("LABEL_")  # the tiny model's labels
        expect(b.locator("#predictions")).not_to_contain_text("LABEL_")  # still the bundled model
        assert any(shape in b.locator("#predictions").inner_text() for shape in ("circle", "square", "ring", "star"))
        pick_model(a, broken)
        expect(a.locator("#message")).to_contain_text("could not be loaded")
        expect(a.locator("#model input")).to_have_value(tiny)  # left on the model that works
        expect(a.locator("#predictions")).to_contain_text("LABEL_")
    finally:
        a.close()
        b.close()


def test_a_class_outside_the_top5_is_computed_on_demand_with_a_note(page):
    from playwright.sync_api import expect

    upload_and_wait(page, EXAMPLES / "scene-ring.png", "ring")
    shown = page.locator("#predictions").inner_text()
    (missing,) = [c for c in ("circle", "square", "triangle", "star", "cross", "ring") if c not in shown]
    page.locator("#method").get_by_text(METHODS["gradcam"].label, exact=True).click()
    expect(page.locator("#caption")).to_contain_text("Grad-CAM on stage2 for “ring”")  # top 5: no model run
    page.locator("#class_index input").click()
    page.get_by_role("option", name=missing, exact=True).click()
    expect(page.locator("#message")).to_contain_text(f"“{missing}” is not among the top 5: the model ran once more")
    expect(page.locator("#caption")).to_contain_text(f"Grad-CAM on stage2 for “{missing}”")
