"""The upload stream in Chromium, on a Hub-architecture checkpoint with random weights (about a second
per class here): what appears first, that the controls work while it runs, and that a newer upload
wins. Order is asserted, never time: the page records every change of the status, predictions,
caption and overlay as it happens."""

from __future__ import annotations

import pytest
import torch

from explorer.server import offline_env, running_app
from tests.browser import TIMEOUT_MS, open_page, upload
from tests.helpers import EXAMPLES
from vit_hybrid import ViTHybridForImageClassification
from vit_hybrid.config import hub_architecture
from vit_hybrid.processor import square_processor

pytestmark = pytest.mark.browser

RECORD = """() => {
  window.timeline = [];
  const text = (id) => (document.querySelector(`${id} .prose`)?.innerText || document.querySelector(id)?.innerText || "").trim();
  const last = {};
  const note = (kind, value) => {
    if (last[kind] !== value) { last[kind] = value; window.timeline.push({kind, value, t: performance.timeOrigin + performance.now()}); }
  };
  const look = () => {
    note("status", text("#status"));
    note("caption", text("#caption"));
    note("top", text("#predictions").split("\\n").map(s => s.trim()).filter(s => s && s !== "Top predictions")[0] || "");
    const img = document.querySelector("#overlay img");
    if (img && img.src && img.dataset.seen !== img.src) {
      img.dataset.seen = img.src;
      const mark = () => note("overlay", `${img.naturalWidth}x${img.naturalHeight}`);
      img.complete ? mark() : img.addEventListener("load", mark, {once: true});
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-architecture")
    torch.manual_seed(0)
    ViTHybridForImageClassification(hub_architecture()).save_pretrained(root / "model")
    square_processor(384).save_pretrained(root / "model")
    with running_app(["--model", str(root / "model")], offline_env(root / "hub"), root / "app.log", timeout=180) as url:
        yield url


@pytest.fixture
def page(browser, hub_app):
    page = open_page(browser, hub_app)
    page.evaluate(RECORD)
    yield page
    page.close()


def events(page) -> list[tuple[str, str]]:
    return [(e["kind"], e["value"]) for e in page.evaluate("window.timeline")]


def wait_for(page, kind: str, text: str) -> None:
    page.wait_for_function("([k, t]) => window.timeline.some(e => e.kind === k && e.value.includes(t))", arg=[kind, text],
                           timeout=TIMEOUT_MS)


def first(timeline: list[tuple[str, str]], kind: str, text: str = "") -> int:
    return next(i for i, (k, v) in enumerate(timeline) if k == kind and text in v)


def test_predictions_and_rollout_come_before_the_classes_and_the_end(page):
    upload(page, EXAMPLES / "chelsea.png")
    wait_for(page, "status", "Explained with")
    timeline = events(page)
    shown = [first(timeline, "top", "LABEL_"), first(timeline, "caption", "rollout up to layer 12/12"),
             first(timeline, "overlay", "x")]
    progress = [first(timeline, "status", f"{n} of 5 done") for n in range(6)]
    assert max(shown) < progress[1] and progress == sorted(progress)
    assert progress[-1] < first(timeline, "status", "Explained with")


def test_a_layer_change_during_the_stream_is_drawn_before_it_ends(page):
    upload(page, EXAMPLES / "coffee.jpg")
    wait_for(page, "status", "0 of 5 done")
    layer = page.locator("#layer input[type=number]")
    layer.fill("3")
    layer.press("Enter")
    wait_for(page, "status", "Explained with")
    timeline = events(page)
    drawn = first(timeline, "caption", "rollout up to layer 3/12")
    assert first(timeline, "status", "0 of 5 done") < drawn < first(timeline, "status", "Explained with")


def test_a_second_upload_during_the_stream_wins(page):
    upload(page, EXAMPLES / "chelsea.png")  # 451 x 300
    wait_for(page, "status", "0 of 5 done")
    wait_for(page, "overlay", "x")
    upload(page, EXAMPLES / "astronaut.jpg")  # square
    page.wait_for_function("() => window.timeline.filter(e => e.kind === 'status' && e.value.includes('Explained with'))"
                           ".length > 0 && document.querySelector('#overlay img').naturalWidth === "
                           "document.querySelector('#overlay img').naturalHeight", timeout=TIMEOUT_MS)
    timeline = events(page)
    overlays = [v for k, v in timeline if k == "overlay"]
    square = [i for i, (k, v) in enumerate(timeline) if k == "overlay" and v.split("x")[0] == v.split("x")[1]]
    assert square, overlays
    after = [v for k, v in timeline[square[0]:] if k == "overlay"]
    assert all(v.split("x")[0] == v.split("x")[1] for v in after), overlays  # no wide map of the first image after
    ends = [v for k, v in timeline if k == "status" and "Explained with" in v]
    assert len(ends) == 1  # the first stream never finished: it stopped for the second


def test_three_visitors_at_once_each_see_a_picture_before_anyone_gets_a_second_class(browser, hub_app):
    """Three pages upload together: the scheduler runs every first step before any class step,
    and classes round-robin, so every page's first picture comes before any page's second class;
    each page's JSON record takes its turn too, so every page's last class comes before any page's
    downloads.
    The pages' timelines are merged by wall-clock time (`performance.timeOrigin + now()`); only
    the order is asserted. A page that waits is told its place."""
    pages = [open_page(browser, hub_app) for _ in range(3)]
    try:
        for page in pages:
            page.evaluate(RECORD)
        for page, photo in zip(pages, ("chelsea.png", "coffee.jpg", "rocket.jpg")):
            upload(page, EXAMPLES / photo)
        for page in pages:
            wait_for(page, "status", "Explained with")
        timelines = [page.evaluate("window.timeline") for page in pages]
    finally:
        for page in pages:
            page.close()

    def when(timeline, kind, text):
        return next(e["t"] for e in timeline if e["kind"] == kind and text in e["value"])

    pictures = [when(t, "overlay", "x") for t in timelines]
    second_classes = [when(t, "status", "2 of 5 done") for t in timelines]
    assert max(pictures) < min(second_classes), (pictures, second_classes)
    last_classes = [when(t, "status", "5 of 5 done") for t in timelines]
    ends = [when(t, "status", "Explained with") for t in timelines]  # the downloads' message
    assert max(last_classes) < min(ends), (last_classes, ends)
    assert any(e["kind"] == "status" and "ahead of yours" in e["value"] for t in timelines for e in t)
