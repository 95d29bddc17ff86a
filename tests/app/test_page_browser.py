"""What a newcomer saw, checked in Chromium on the real app (bundled model): the map's size, an
all-zero map and a bright edge explained where the map is, the gallery following the method, where
messages appear and when they go, examples in view, inactive downloads, one number per probability;
and screenshots at 1400 x 1000 and at phone width (390 px) under test-artifacts/."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from explain import METHODS
from tests.browser import ARTIFACTS, TIMEOUT_MS, open_page, upload, upload_and_finish
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.browser

STAR, PHOTO = EXAMPLES / "scene-star.png", EXAMPLES / "chelsea.png"  # 128 x 128, 451 x 300


@pytest.fixture
def page(browser, app_url):
    page = open_page(browser, app_url, 1400, 1000)
    yield page
    page.close()


def overlay_size(page) -> tuple[int, int]:
    return tuple(page.evaluate("() => { const i = document.querySelector('#overlay img'); return [i.naturalWidth, i.naturalHeight]; }"))


def choose_method(page, name: str) -> None:
    page.locator("#method").get_by_text(METHODS[name].label, exact=True).click()


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def test_the_map_is_drawn_large_whatever_the_upload_size(page, tmp_path):
    upload_and_finish(page, STAR)
    width, height = overlay_size(page)
    assert 512 <= max(width, height) <= 1024 and width == height, (width, height)  # 128 px, scaled up
    upload_and_finish(page, PHOTO)
    width, height = overlay_size(page)
    assert 512 <= max(width, height) <= 1024 and abs(width / height - 451 / 300) < 0.01, (width, height)
    strip = tmp_path / "strip.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 10000, 3), dtype=np.uint8)).save(strip)
    upload_and_finish(page, strip)
    width, height = overlay_size(page)
    assert width == 1024 and height >= 64, (width, height)  # 1024 x 1 drawn, letterboxed to be seen


def test_an_empty_map_and_a_bright_edge_are_explained_under_the_map(page):
    upload_and_finish(page, STAR)
    choose_method(page, "gradcam")
    page.locator("#stage").get_by_text("stage3", exact=True).click()
    page.locator("#caption", has_text="Grad-CAM on stage3").wait_for()
    assert "this map is zero everywhere" in page.locator("#caption").inner_text()
    page.locator("#stage").get_by_text("stage1", exact=True).click()
    page.locator("#caption", has_text="Grad-CAM on stage1").wait_for()
    assert "“SAME” padding pads those sides more" in page.locator("#caption").inner_text()


def gallery_state(page) -> dict:
    return page.evaluate("""() => {
      const g = document.querySelector('#gallery'), r = g.getBoundingClientRect();
      const items = [...g.querySelectorAll('.thumbnail-item')].map(t => t.getBoundingClientRect());
      const imgs = [...g.querySelectorAll('.thumbnail-item img')];
      return {label: g.querySelector('label')?.innerText.trim(), captions: [...g.querySelectorAll('.caption-label')].map(c => c.innerText.trim()),
              box: [r.left, r.top, r.right, r.bottom], items: items.map(b => [b.left, b.top, b.right, b.bottom]),
              fits: imgs.map(i => getComputedStyle(i).objectFit), ratios: imgs.map(i => i.naturalWidth / i.naturalHeight)};
    }""")


def redrawn_gallery(page) -> dict:
    """The gallery once the redraw a control change started has had time to land (it runs after the
    overlay's own redraw, on the same queue)."""
    page.wait_for_timeout(1500)
    page.wait_for_function("() => [...document.querySelectorAll('#gallery .thumbnail-item img')]"
                           ".every(i => i.complete && i.naturalWidth)")
    return gallery_state(page)


def test_the_gallery_shows_what_the_method_has_and_fits_its_box(page):
    upload_and_finish(page, PHOTO)
    choose_method(page, "gradcam")
    stages = redrawn_gallery(page)
    assert stages["label"] == "Grad-CAM, stage by stage" and stages["captions"] == ["stage1", "stage2", "stage3"]
    assert all(abs(ratio - 451 / 300) < 0.02 for ratio in stages["ratios"]) and set(stages["fits"]) == {"contain"}
    assert stages["box"][3] - max(b[3] for b in stages["items"]) < 40  # no empty band under the thumbnails
    choose_method(page, "gradient_rollout")
    classes = redrawn_gallery(page)
    assert classes["label"] == "Gradient rollout, class by class" and len(classes["captions"]) == 5
    choose_method(page, "raw_attention")
    layers = redrawn_gallery(page)
    assert layers["label"] == "Raw attention, layer by layer" and layers["captions"] == [f"layer {n}" for n in range(1, 5)]
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#gallery").scroll_into_view_if_needed()
    narrow = gallery_state(page)
    left, _, right, _ = narrow["box"]
    assert all(left <= b[0] and b[2] <= right + 1 for b in narrow["items"]), narrow  # every thumbnail inside its box
    page.locator("#gallery").screenshot(path=str(ARTIFACTS / "gallery-390.png"))


def under_the_map(page, text: str) -> bool:
    """Whether `text` is shown directly under the map (within 80 px below it, in its column)."""
    element = page.get_by_text(text).first
    element.wait_for()
    overlay, message = box(page, "#overlay"), element.bounding_box()
    below = 0 <= message["y"] - (overlay["y"] + overlay["height"]) <= 80
    return below and overlay["x"] - 1 <= message["x"] < overlay["x"] + overlay["width"]


def test_messages_appear_under_the_map_and_go_with_the_next_success(page, tmp_path):
    page.locator("#faithfulness").get_by_text("Measure faithfulness").first.click()
    page.locator("#measure").click()
    page.get_by_text("Upload an image first.").wait_for()
    upload_and_finish(page, STAR)
    assert page.get_by_text("Upload an image first.").count() == 0
    bad = tmp_path / "notes.png"
    bad.write_text("these are my notes, not a picture\n")
    upload(page, bad)
    assert under_the_map(page, "is a text file, not an image")
    upload_and_finish(page, PHOTO)
    assert page.get_by_text("is a text file, not an image").count() == 0


def test_examples_are_in_sight_and_a_click_brings_the_result_into_view(browser, app_url):
    wide = open_page(browser, app_url, 1400, 1000)
    try:
        assert wide.locator("img[src*='scene-star']").first.bounding_box()["y"] < 1000  # above the fold
    finally:
        wide.close()
    phone = open_page(browser, app_url, 390, 844)
    try:
        phone.get_by_text("Examples").first.scroll_into_view_if_needed()
        phone.locator("img[src*='scene-star']").first.click()
        phone.locator("#status", has_text="Explained with").wait_for(timeout=TIMEOUT_MS)
        top = phone.evaluate("() => document.querySelector('#overlay').getBoundingClientRect().top")
        assert 0 <= top < 844 / 2, top  # the map is on screen
    finally:
        phone.close()


def test_downloads_look_inactive_until_there_is_something_to_download(page):
    for button in ("#png_download", "#json_download"):
        assert page.locator(button).first.is_disabled()
    upload_and_finish(page, STAR)
    for button in ("#png_download", "#json_download"):
        page.wait_for_function("s => !document.querySelector(s).disabled", arg=button)
        assert page.locator(button).first.is_enabled()


def test_one_probability_reads_the_same_wherever_it_appears(page):
    upload_and_finish(page, STAR)
    choose_method(page, "gradcam")
    page.locator("#caption", has_text="Grad-CAM on stage2").wait_for()
    bars = page.locator("#predictions").inner_text()
    label = re.search(r"star\s+(\d+(?:\.\d+)?%)", bars).group(1)
    caption = re.search(r"“star” \((\d+(?:\.\d+)?%)\)", page.locator("#caption").inner_text()).group(1)
    page.locator("#class_index input").click()
    option = re.search(r"star \((\d+(?:\.\d+)?%)\)", page.get_by_role("option").first.inner_text()).group(1)
    assert label == caption == option, (label, caption, option)


def test_screenshots_at_desktop_and_phone_width(browser, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1400, 1000), (390, 844)):
        for path in (STAR, PHOTO):
            shot = open_page(browser, app_url, width, height)
            try:
                upload_and_finish(shot, path)
                shot.screenshot(path=str(ARTIFACTS / f"page-{width}-{path.stem}.png"), full_page=True)
            finally:
                shot.close()
