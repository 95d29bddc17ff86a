"""The page's tool for AI agents: `explain_summary`, an API endpoint of the page that Gradio's MCP
server (`python app.py --mcp`, or GRADIO_MCP_SERVER=true) offers as a tool. It answers with one
JSON text, a few numbers per map rather than megabytes of arrays, whose `record_url` fetches the
full JSON (the `/explain` record). One text output, because Gradio's MCP server hands a queued
tool's outputs to a client that asks for no progress reports as the `str` of their list.
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any

import gradio as gr
from gradio import route_utils
from gradio_client.utils import encode_file_path

from explain import METHODS, VIEWS, MapChoice, classes_named
from explain.draw import image_record, select_map, summarise_map
from vit_hybrid.images import ImageError

from .analysis import Analysis, add_classes, analyse
from .downloads import RECORDS, write_json
from .fetch import FetchError, fetch
from .store import ModelLoadError, ModelStore

MAX_CLASSES = 10  # classes per call: those outside the top 5 cost a forward pass and a backward each


def requested_classes(text: str, analysis: Analysis, id2label: dict[int, str]) -> list[int]:
    """The classes a comma-separated list names (indices or labels); the top prediction when empty."""
    indices = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.isdigit():
            index = int(part)
            if index not in id2label:
                raise ValueError(f"There is no class {index}: the model has classes 0 to {len(id2label) - 1}.")
        else:
            found = classes_named(part, id2label)
            if len(found) != 1:
                raise ValueError(f"{part!r} names {'no class' if not found else 'several classes'} of the model"
                                 f"{'' if not found else ' (' + ', '.join(map(str, sorted(found))) + ')'}: give its index.")
            (index,) = found
        indices.append(index)
    indices = list(dict.fromkeys(indices))
    if len(indices) > MAX_CLASSES:
        raise ValueError(f"At most {MAX_CLASSES} classes can be explained in one call, not {len(indices)}.")
    return indices or [analysis.explanation.predictions[0].index]


def summary_record(analysis: Analysis, indices: list[int]) -> dict[str, Any]:
    """Predictions, and for each class every method's map at its page default, in a few numbers."""
    explanation = analysis.explanation

    def summary(name: str, index: int) -> dict[str, Any]:
        values, caption = select_map(explanation, MapChoice(method=name, class_index=index))
        return {"map": caption, "class_specific": METHODS[name].class_specific,
                **summarise_map(values, explanation.geometry)}

    shared = {name: summary(name, indices[0]) for name, method in METHODS.items() if not method.class_specific}
    explained = []
    for index in indices:
        maps = {name: dict(shared[name]) if name in shared else summary(name, index) for name in METHODS}
        class_maps = explanation.classes[index]
        explained.append({"index": index, "label": class_maps.label, "probability": class_maps.probability, "maps": maps})
    return {"model": analysis.model, **image_record(explanation), "explained": explained}


def record_url(path: str, request: gr.Request) -> str:
    """The URL that fetches `path` (a file in RECORDS) from the app: its root worked out from the
    request as Gradio works out the URLs of a queued event's file outputs (proxy headers, root path)."""
    http = request.request
    root = route_utils.get_root_url(http, route_utils.get_api_call_path(http), http.app.root_path)
    return f"{root}/gradio_api/file={encode_file_path(path)}"


def explain_summary(store: ModelStore, request: gr.Request, image: str, model: str, view: str = "crop",
                    classes: str = "") -> str:
    """Classify an image with a ViT-Hybrid model and say where in the image each explanation method finds the evidence for a class.

    For each class asked for (default: the top prediction) and each method (rollout, raw attention
    of the last layer, gradient rollout, Grad-CAM and LayerCAM on the default backbone stage), it
    gives the map's peak as x, y in pixels of the original image (x to the right, y down, from the
    top-left corner; null when the map is empty) and the share of the map's positive mass in each
    quadrant of the image (top_left, top_right, bottom_left, bottom_right; they sum to 1).

    Args:
        image: the picture, as an http(s) URL on a public server or a data: URL with its bytes in base64 (data:image/png;base64,...).
        model: which of the app's models to use.
        view: "crop" for the centre crop the model was trained on, "whole" for the uncropped image.
        classes: comma-separated class labels or indices to explain (at most 10); empty for the top prediction.

    Returns:
        The summary as JSON text: predictions; per class and method, peak and quadrant shares; record_url, a URL that fetches a JSON file with every map's values (the app's /explain record) for an hour.
    """
    try:
        served = store.get(model)
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
        if not image or not image.strip():
            raise ValueError("No image was given: pass an http(s) URL or a data: URL.")
        analysis = analyse(served, fetch(image), view)
        indices = requested_classes(classes or "", analysis, served.model.config.id2label)
        analysis = add_classes(served, analysis, indices)  # those outside the top 5: one more pass for all
    except (ImageError, FetchError, ModelLoadError, ValueError) as err:
        raise gr.Error(str(err)) from None
    url = record_url(write_json(analysis, RECORDS), request)
    return json.dumps({**summary_record(analysis, indices), "record_url": url}, indent=1)


def add_summary_tool(store: ModelStore, default: str, event: dict[str, Any]) -> None:
    """Adds `explain_summary` to the page being built: hidden inputs and a text output, the API
    endpoint /explain_summary, which Gradio's MCP server offers as a tool of that name, and the
    records' folder served as it is; `event`: the model events' concurrency options."""

    @functools.wraps(explain_summary)
    def tool(*arguments: Any) -> str:
        return explain_summary(store, *arguments)

    # The agent's parameters (no store); Gradio passes the request, read from the type hints.
    signature = inspect.signature(explain_summary)
    tool.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    gr.set_static_paths([RECORDS])
    with gr.Column(visible=False):
        inputs = [gr.Textbox(label="image"),
                  gr.Dropdown(store.names, value=default, label="model", allow_custom_value=store.allow_any),
                  gr.Radio(list(VIEWS), value="crop", label="view"), gr.Textbox(value="", label="classes")]
        summary = gr.Textbox(label="summary")
    gr.Button(visible=False).click(tool, inputs, summary, api_name="explain_summary", **event)
