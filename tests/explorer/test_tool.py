"""The agents' tool without a server: which classes a request names, and its summary against the
explanation it summarises."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import gradio as gr
import pytest
from starlette.requests import Request

from explain import MapChoice, explain_class
from explain.draw.render import select_map
from explain.draw.summary import summarise_map
from explorer.analysis import analyse
from explorer.downloads import RECORDS
from explorer.paths import BUNDLED_NAME
from explorer.store import ModelStore
from explorer.tool import MAX_CLASSES, explain_summary, record_url, requested_classes
from tests.helpers import BUNDLED, EXAMPLES

LABELS = {0: "tabby, tabby cat", 1: "crane", 2: "crane", 3: "tiger_cat", **{i: f"class {i}" for i in range(4, 20)}}


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore({BUNDLED_NAME: str(BUNDLED)})


def queue_request(headers: dict[str, str], root_path: str = "") -> gr.Request:
    """A request as Gradio's queue hands one to an event: the POST to /gradio_api/queue/join."""
    scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/gradio_api/queue/join",
             "query_string": b"", "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "app": SimpleNamespace(root_path=root_path)}
    return gr.Request(Request(scope))


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


def test_the_record_url_is_the_apps_as_the_request_saw_it():
    path = str(RECORDS / "vit-hybrid-explanation-0123456789ab.json")
    direct = queue_request({"host": "127.0.0.1:7860"})
    assert record_url(path, direct) == f"http://127.0.0.1:7860/gradio_api/file={path}"
    proxied = queue_request({"host": "10.0.0.2:7860", "x-forwarded-host": "someone-explorer.hf.space",
                             "x-forwarded-proto": "https"})
    assert record_url(path, proxied) == f"https://someone-explorer.hf.space/gradio_api/file={path}"
    mounted = queue_request({"host": "example.org"}, root_path="/explorer")
    assert record_url(path, mounted) == f"http://example.org/explorer/gradio_api/file={path}"


def test_the_summary_is_that_of_the_explanation(store, analysis):
    data_url = "data:image/png;base64," + base64.b64encode((EXAMPLES / "scene-star.png").read_bytes()).decode()
    ring = 5  # outside the star's top five (the bundled model has six classes): the tool runs one more pass
    assert ring not in [p.index for p in analysis.explanation.predictions]
    request = queue_request({"host": "127.0.0.1:7860"})
    summary = json.loads(explain_summary(store, request, data_url, BUNDLED_NAME, "crop", "ring"))
    assert [c["index"] for c in summary["explained"]] == [ring]
    for method, got in summary["explained"][0]["maps"].items():
        values, caption = select_map(explain_class(store.get(BUNDLED_NAME).model, analysis.explanation, ring),
                                     MapChoice(method=method, class_index=ring))
        want = summarise_map(values, analysis.explanation.geometry)
        assert got["map"] == caption
        assert got["peak"] is None if want["peak"] is None else got["peak"] == pytest.approx(want["peak"])
        assert got["quadrants"] == pytest.approx(want["quadrants"], abs=1e-6)
    prefix = "http://127.0.0.1:7860/gradio_api/file="
    assert summary["record_url"].startswith(prefix)
    path = Path(unquote(summary["record_url"].removeprefix(prefix)))
    assert path.parent == RECORDS and json.loads(path.read_text())["model"] == BUNDLED_NAME
    with pytest.raises(gr.Error, match="only images on public addresses are fetched"):
        explain_summary(store, request, "http://127.0.0.1:9/x.png", BUNDLED_NAME)
    with pytest.raises(gr.Error, match="not one of the models this app serves"):
        explain_summary(store, request, data_url, "google/vit-hybrid-base-bit-384")
