"""The agents' tool through Gradio's MCP server, with the `mcp` client package, against the real app
started as a Space would start it (GRADIO_MCP_SERVER=true). Expected peaks and quadrant shares are
computed here from /explain's JSON: each map's argmax cell mapped through crop_box, and its
positive mass split by the overlap of each cell with the quadrants at the image's midlines."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request

import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from explorer.launch import parse_args
from explorer.paths import BUNDLED_NAME
from explorer.server import offline_env, running_app
from tests.helpers import EXAMPLES
from tests.hostile import corpus

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow  # starts the app
TIMEOUT_S = 120
DEFAULT_STAGE = "stage2"  # the page's default Grad-CAM and LayerCAM stage for the bundled model


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("mcp-app")
    env = offline_env(root / "hub", GRADIO_TEMP_DIR=str(root / "gradio"), GRADIO_MCP_SERVER="true")
    with running_app([], env, root / "app.log") as url:
        yield url


def with_session(url: str, work):
    """Runs `work(session)` in an MCP session with the app, bounded in time."""

    async def run():
        async with streamable_http_client(f"{url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))


def call(url: str, arguments: dict, progress: bool = True):
    """The tool's result; with `progress`, the client asks for progress reports (Gradio then streams
    the event; without, it waits for the result)."""

    async def report(progress_value, total, message):
        pass

    return with_session(url, lambda s: s.call_tool("explain_summary", arguments,
                                                    progress_callback=report if progress else None))


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def expected_summary(values: list[list[float]], record: dict) -> dict:
    """Peak and quadrant shares of one map of /explain's record, computed cell by cell."""
    grid = np.asarray(values, dtype=np.float64)
    rows, columns = grid.shape
    left, top, right, bottom = record["crop_box"]
    height, width = record["original_size"]
    cell_w, cell_h = (right - left) / columns, (bottom - top) / rows
    positive = np.clip(grid, 0, None)
    if positive.sum() == 0:
        return {"peak": None, "quadrants": dict.fromkeys(["top_left", "top_right", "bottom_left", "bottom_right"], 0.0)}
    row, column = np.unravel_index(np.argmax(grid), grid.shape)
    shares = {"top_left": 0.0, "top_right": 0.0, "bottom_left": 0.0, "bottom_right": 0.0}
    halves_x = {"left": (-np.inf, width / 2), "right": (width / 2, np.inf)}
    halves_y = {"top": (-np.inf, height / 2), "bottom": (height / 2, np.inf)}
    for i in range(rows):
        for j in range(columns):
            x0, y0 = left + j * cell_w, top + i * cell_h
            for vertical, (a, b) in halves_y.items():
                for horizontal, (c, d) in halves_x.items():
                    overlap = max(0.0, min(y0 + cell_h, b) - max(y0, a)) * max(0.0, min(x0 + cell_w, d) - max(x0, c))
                    shares[f"{vertical}_{horizontal}"] += positive[i, j] * overlap / (cell_w * cell_h)
    return {"peak": {"x": left + (column + 0.5) * cell_w, "y": top + (row + 0.5) * cell_h},
            "quadrants": {k: v / positive.sum() for k, v in shares.items()}}


def assert_same_predictions(got: list[dict], want: list[dict]) -> None:
    assert [(p["index"], p["label"]) for p in got] == [(p["index"], p["label"]) for p in want]
    assert [p["probability"] for p in got] == pytest.approx([p["probability"] for p in want], rel=1e-5)


def page_default_maps(record: dict, index: int) -> dict[str, list]:
    """Each method's map at the page's default, picked from /explain's record by its names."""
    layers = max(m["layer"] for m in record["maps"] if m["method"] == "rollout")
    wanted = {
        "rollout": {"method": "rollout", "layer": layers, "fusion": "mean"},
        "raw_attention": {"method": "raw_attention", "layer": layers, "head": "mean"},
        "gradient_rollout": {"method": "gradient_rollout", "class_index": index},
        "gradcam": {"method": "gradcam", "stage": DEFAULT_STAGE, "class_index": index},
        "layercam": {"method": "layercam", "stage": DEFAULT_STAGE, "class_index": index},
    }
    found = {}
    for name, names in wanted.items():
        (match,) = [m for m in record["maps"] if all(m.get(k) == v for k, v in names.items())]
        found[name] = match["values"]
    return found


def test_the_tools_are_listed_with_what_an_agent_needs(app):
    (tool,) = with_session(app, lambda s: s.list_tools()).tools  # /explain is not a tool: 270 KB an answer
    assert tool.name == "explain_summary" and "record_url" in tool.description
    assert "where in the image each explanation method finds the evidence" in tool.description
    assert "quadrant" in tool.description and "pixels of the original image" in tool.description
    properties = tool.inputSchema["properties"]
    assert list(properties) == ["image", "model", "view", "classes"]
    assert "data: URL" in properties["image"]["description"] and properties["image"]["type"] == "string"
    assert properties["model"]["enum"] == [BUNDLED_NAME] and properties["view"]["enum"] == ["crop", "whole"]
    assert tool.inputSchema["required"] == ["image"]


def summary_of(result) -> dict:
    """The tool's one content, read as JSON."""
    assert not result.isError, result.content
    (content,) = result.content
    return json.loads(content.text)


@pytest.mark.parametrize(("name", "view", "pick", "progress"),
                         [("chelsea.png", "crop", None, True), ("rocket.jpg", "whole", (1, 3), False)])
def test_peaks_and_quadrants_match_the_explain_endpoint(app, name, view, pick, progress):
    client = gradio_client.Client(app, verbose=False)
    record = client.predict(gradio_client.handle_file(str(EXAMPLES / name)), BUNDLED_NAME, view, api_name="/explain")
    predictions = record["predictions"]
    asked = [predictions[0]] if pick is None else [predictions[n] for n in pick]
    classes = "" if pick is None else f"{asked[0]['label']}, {asked[1]['index']}"  # by label and by index
    summary = summary_of(call(app, {"image": data_url((EXAMPLES / name).read_bytes()), "model": BUNDLED_NAME,
                                    "view": view, "classes": classes}, progress))
    assert_same_predictions(summary["predictions"], predictions)
    assert (summary["view"], summary["original_size"]) == (view, record["original_size"])
    assert summary["crop_box"] == pytest.approx(record["crop_box"])
    assert [c["index"] for c in summary["explained"]] == [p["index"] for p in asked]
    for explained, prediction in zip(summary["explained"], asked):
        assert explained["label"] == prediction["label"]
        assert explained["probability"] == pytest.approx(prediction["probability"], rel=1e-5)
        maps = page_default_maps(record, prediction["index"])
        assert list(explained["maps"]) == list(maps)
        for method, values in maps.items():
            got, want = explained["maps"][method], expected_summary(values, record)
            assert (got["peak"] is None) == (want["peak"] is None), method
            if want["peak"] is not None:
                assert got["peak"] == pytest.approx(want["peak"], abs=1e-6), method
            assert got["quadrants"] == pytest.approx(want["quadrants"], abs=1e-6), method
            assert sum(got["quadrants"].values()) == pytest.approx(1.0 if want["peak"] else 0.0)
    assert summary["record_url"].startswith(f"{app}gradio_api/file=")
    with urllib.request.urlopen(summary["record_url"], timeout=30) as response:
        full = json.load(response)
    assert full["model"] == BUNDLED_NAME and (full["view"], full["crop_box"]) == (view, record["crop_box"])
    assert_same_predictions(full["predictions"], predictions)
    assert [{k: v for k, v in m.items() if k != "values"} for m in full["maps"]] == \
           [{k: v for k, v in m.items() if k != "values"} for m in record["maps"]]
    for got, want in zip(full["maps"], record["maps"]):
        assert np.allclose(got["values"], want["values"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("progress", [True, False])
def test_with_or_without_progress_reports_the_answer_is_one_json_text(app, progress):
    """Gradio hands a queued tool's outputs to a client that asks for no progress reports as the
    `str` of their list; the tool's one text output is its JSON either way."""
    summary = summary_of(call(app, {"image": data_url((EXAMPLES / "scene-star.png").read_bytes())}, progress))
    assert summary["explained"][0]["label"] == "star"
    with urllib.request.urlopen(summary["record_url"], timeout=30) as response:
        assert response.headers["Content-Type"] == "application/json"
        full = json.load(response)
    assert (full["model"], full["predictions"]) == (summary["model"], summary["predictions"])


def test_a_hostile_file_gets_its_message_and_a_loopback_url_is_refused(app):
    truncated = next(case for case in corpus() if case.name == "truncated.png")
    result = call(app, {"image": data_url(truncated.data)})
    assert result.isError and truncated.message in result.content[0].text
    result = call(app, {"image": f"{app}gradio_api/file=assets/examples/coffee.jpg"})
    assert result.isError and "a loopback, private or reserved address" in result.content[0].text
    result = call(app, {"image": data_url((EXAMPLES / "coffee.jpg").read_bytes()), "classes": "tabby"})
    assert result.isError and "'tabby' names no class of the model" in result.content[0].text
    assert not call(app, {"image": data_url((EXAMPLES / "coffee.jpg").read_bytes())}).isError  # still serving


def test_the_mcp_flag_and_gradios_variable():
    assert parse_args(["--mcp"]).mcp is True
    assert parse_args([]).mcp is None  # launch(mcp_server=None): Gradio reads GRADIO_MCP_SERVER
