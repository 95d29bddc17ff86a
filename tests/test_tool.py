"""The agents' tool without a server: which classes a request names, and its summary against the
explanation it summarises."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import gradio as gr
import pytest
from helpers import BUNDLED, EXAMPLES

from explain import MapChoice, explain_class
from explain.render import select_map
from explain.summary import summarise_map
from explorer.analysis import analyse
from explorer.paths import BUNDLED_NAME
from explorer.store import ModelStore
from explorer.tool import MAX_CLASSES, explain_summary, requested_classes

LABELS = {0: "tabby, tabby cat", 1: "crane", 2: "crane", 3: "tiger_cat", **{i: f"class {i}" for i in range(4, 20)}}


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore({BUNDLED_NAME: str(BUNDLED)})


@pytest.fixture(scope="module")
def analysis(store):
    return analyse(store.get(BUNDLED_NAME), str(EXAMPLES / "scene-star.png"))


def test_classes_by_label_or_index_once_each_and_the_top_one_by_default(analysis):
    assert requested_classes("Tabby Cat, 3, tiger cat,0", analysis, LABELS) == [0, 3]
    assert requested_classes(" , ", analysis, LABELS) == [analysis.explanation.predictions[0].index]
    for text, message in [("crane", r"'crane' names several classes of the model \(1, 2\): give its index"),
                          ("zebra", "'zebra' names no class of the model"), ("20", "There is no class 20"),
                          (",".join(map(str, range(MAX_CLASSES + 1))), f"At most {MAX_CLASSES} classes")]:
        with pytest.raises(ValueError, match=message):
            requested_classes(text, analysis, LABELS)


def test_the_summary_is_that_of_the_explanation(store, analysis):
    data_url = "data:image/png;base64," + base64.b64encode((EXAMPLES / "scene-star.png").read_bytes()).decode()
    ring = 5  # outside the star's top five (the bundled model has six classes): the tool runs one more pass
    assert ring not in [p.index for p in analysis.explanation.predictions]
    text, path = explain_summary(store, data_url, BUNDLED_NAME, "crop", "ring")
    summary = json.loads(text)
    assert [c["index"] for c in summary["explained"]] == [ring]
    for method, got in summary["explained"][0]["maps"].items():
        values, caption = select_map(explain_class(store.get(BUNDLED_NAME).model, analysis.explanation, ring),
                                     MapChoice(method=method, class_index=ring))
        want = summarise_map(values, analysis.explanation.geometry)
        assert got["map"] == caption
        assert got["peak"] is None if want["peak"] is None else got["peak"] == pytest.approx(want["peak"])
        assert got["quadrants"] == pytest.approx(want["quadrants"], abs=1e-6)
    assert json.loads(Path(path).read_text())["model"] == BUNDLED_NAME
    with pytest.raises(gr.Error, match="only images on public addresses are fetched"):
        explain_summary(store, "http://127.0.0.1:9/x.png", BUNDLED_NAME)
    with pytest.raises(gr.Error, match="not one of the models this app serves"):
        explain_summary(store, data_url, "google/vit-hybrid-base-bit-384")
