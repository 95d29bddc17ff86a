"""The report of a dataset run: a self-contained page (every figure embedded, file names escaped),
opened in Chromium with its figures drawn (screenshot in test-artifacts/)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import PIL.Image
import pytest

from explain.benchmark.scenes import CLASSES, make_scene
from explain.dataset import main as run
from explain.dataset.report import main as write_report
from explain.dataset.report import report
from explain.dataset.table import read_rows
from tests.browser import ARTIFACTS
from tests.helpers import BUNDLED, EXAMPLES

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Twelve labelled scenes with masks, a photo in no class folder and an undecodable file,
    run with every metric."""
    root = tmp_path_factory.mktemp("report")
    for index in range(12):
        scene = make_scene(11, index)
        key = f"{CLASSES[scene.label]}/scene-{index}.png"
        for folder, picture in (("src", scene.image), ("masks", scene.silhouette.astype(np.uint8) * 255)):
            (root / folder / key).parent.mkdir(parents=True, exist_ok=True)
            PIL.Image.fromarray(picture).save(root / folder / key)
    shutil.copy(EXAMPLES / "chelsea.png", root / "src" / "chelsea.png")
    (root / "src" / "circle" / HOSTILE_NAME).write_text("not a picture")
    run([str(root / "src"), "--out", str(root / "out"), "--model", str(BUNDLED), "--labels-from-folders",
         "--maps", "rollout,gradcam", "--masks", str(root / "masks"), "--faithfulness", "--steps", "2"])
    write_report([str(root / "out"), "--examples", "3"])
    return root / "out"


def test_the_page_carries_its_figures_and_escapes_file_names(finished_run):
    page = (finished_run / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)  # nothing fetched
    for heading in ("Accuracy", "Confidence", "Metrics", "Most confident", "Least confident"):
        assert f"<h2>{heading}</h2>" in page
    rows = [r for r in read_rows(finished_run).to_pylist() if r["true_index"] is not None]
    correct = sum(r["predictions"][0]["index"] == r["true_index"] for r in rows)
    assert len(rows) == 12 and f"{correct} of 12 correct ({correct / 12:.1%})" in page
    assert "13 images explained, 1 could not be" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in page and HOSTILE_NAME not in page
    assert "This file is a text file, not an image." in page


def test_a_run_without_labels_or_metrics_says_so(tmp_path):
    run([str(EXAMPLES), "--out", str(tmp_path), "--model", str(BUNDLED), "--maps", "layercam"])
    page = report(tmp_path)
    assert "No metrics were computed" in page and "<h2>Accuracy</h2>" not in page
    assert page.count("data:image/png;base64,") == 3  # confidence and the two sets of examples


@pytest.mark.browser
def test_the_report_opens_in_chromium_with_its_figures_drawn(browser, finished_run):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.set_default_timeout(30_000)
        page.goto((finished_run / "report.html").as_uri())
        figures = page.locator("img.figure")
        assert figures.count() == 5
        for n in range(5):
            figures.nth(n).scroll_into_view_if_needed()
            expect(figures.nth(n)).to_be_visible()
            width = figures.nth(n).evaluate("img => img.complete ? img.naturalWidth : 0")
            assert width > 200, f"figure {n} was not drawn"
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    finally:
        page.close()
