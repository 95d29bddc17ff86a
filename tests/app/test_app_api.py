"""The app's named endpoint through `gradio_client`, against a direct call of `explain`."""

from __future__ import annotations

import io
import re

import pytest
import torch
from PIL import Image

from explain import explain
from explain.draw.export import explanation_record
from explorer.paths import BUNDLED_NAME
from tests.helpers import EXAMPLES
from vit_hybrid.images import load_image

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow  # the real app, started once for the session


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def call(client, path, view: str = "crop") -> dict:
    return client.predict(gradio_client.handle_file(str(path)), BUNDLED_NAME, view, api_name="/explain")


def assert_matches_direct(record: dict, path, view: str, bundled) -> None:
    model, processor = bundled
    direct = explanation_record(explain(model, load_image(path), processor, top_k=5, view=view))
    assert record["model"] == BUNDLED_NAME
    assert [p["index"] for p in record["predictions"]] == [p["index"] for p in direct["predictions"]]
    assert [p["label"] for p in record["predictions"]] == [p["label"] for p in direct["predictions"]]
    for got, want in zip(record["predictions"], direct["predictions"]):
        assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)
    assert (record["view"], record["original_size"], record["crop_box"]) == (direct["view"], direct["original_size"], direct["crop_box"])
    assert len(record["maps"]) == len(direct["maps"]) > 0
    for got, want in zip(record["maps"], direct["maps"]):
        assert {k: v for k, v in got.items() if k != "values"} == {k: v for k, v in want.items() if k != "values"}
        torch.testing.assert_close(torch.tensor(got["values"]), torch.tensor(want["values"]), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("name", "view"), [("chelsea.png", "crop"), ("scene-star.png", "crop"), ("rocket.jpg", "whole")])
def test_named_endpoint_matches_explain(client, bundled, name, view):
    assert_matches_direct(call(client, EXAMPLES / name, view), EXAMPLES / name, view, bundled)


def huge_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")  # 400 megapixels, a few kB on disk
    return out.getvalue()


def truncated_png() -> bytes:
    data = (EXAMPLES / "chelsea.png").read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("notes.txt", lambda: b"a shopping list, not a picture\n", "is a text file, not an image"),
        ("cut.png", truncated_png, "file is truncated"),
        ("empty.png", lambda: b"", "empty (0 bytes)"),
        ("huge.png", huge_png, "too large (400 megapixels)"),
    ],
)
def test_bad_uploads_get_a_message_then_a_good_image_works(client, bundled, tmp_path, name, make, expected):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(Exception, match=re.escape(expected)):  # gradio_client raises the app's gr.Error message
        call(client, path)
    assert_matches_direct(call(client, EXAMPLES / "coffee.jpg"), EXAMPLES / "coffee.jpg", "crop", bundled)


def test_a_model_outside_the_allowed_list_is_refused(client):
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(gradio_client.handle_file(str(EXAMPLES / "coffee.jpg")), "google/vit-hybrid-base-bit-384", "crop",
                       api_name="/explain")
