"""The hostile and odd corpus (tests/hostile.py), through the Python API and through the app."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from explain import explain
from explain.draw.export import explanation_record
from tests.hostile import corpus
from vit_hybrid.images import ImageError, load_image

CASES = corpus()
IDS = [Path(case.name).name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_python_api_gives_a_correct_picture_or_names_the_problem(case, bundled):
    if case.message:
        with pytest.raises(ImageError, match=re.escape(case.message)):
            load_image(case.data)
        return
    picture = load_image(case.data)
    assert picture.mode == "RGB" and case.check(np.asarray(picture))
    e = explain(bundled[0], picture, bundled[1], top_k=2, view="whole")
    assert all(torch.isfinite(m).all() for m in e.rollout.values())


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 8, 3), np.inf), "NaN or infinite"),
        (np.full((8, 8, 3), -1.0), "from -1 to -1"),
        (np.full((8, 8, 3), 300, np.int32), "must lie in [0, 255]"),
        (np.zeros((8, 8), np.uint8), "must be (height, width, 3)"),
        (np.zeros((0, 8, 3), np.uint8), "empty (8×0 pixels)"),
        (np.zeros((8, 8, 3), bool), "integers or floats"),
    ],
    ids=["nan", "inf", "negative", "over-255", "two-dimensional", "no-rows", "bool"],
)
def test_bad_arrays_through_the_python_api_name_their_problem(bundled, array, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explain(bundled[0], array, bundled[1])


def test_float_arrays_on_the_0_255_scale_match_uint8(bundled):
    image = np.asarray(load_image(CASES[-1].data))
    a = explain(bundled[0], image, bundled[1])
    b = explain(bundled[0], image.astype(np.float64), bundled[1])
    torch.testing.assert_close(a.rollout["mean"], b.rollout["mean"])


@pytest.fixture(scope="module")
def client(app_url):
    import gradio_client

    return gradio_client.Client(app_url, verbose=False)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_app_gives_the_same_answer_or_the_same_message(case, client, bundled, tmp_path):
    from gradio_client import handle_file

    from explorer.paths import BUNDLED_NAME

    path = tmp_path / Path(case.name).name
    path.write_bytes(case.data)
    if case.message:
        with pytest.raises(Exception, match=re.escape(case.message)):
            client.predict(handle_file(str(path)), BUNDLED_NAME, "crop", api_name="/explain")
        return
    record = client.predict(handle_file(str(path)), BUNDLED_NAME, "crop", api_name="/explain")
    direct = explanation_record(explain(bundled[0], load_image(case.data), bundled[1]))
    assert record["original_size"] == direct["original_size"] == list(np.asarray(load_image(case.data)).shape[:2])
    assert [p["index"] for p in record["predictions"]] == [p["index"] for p in direct["predictions"]]
    for got, want in zip(record["maps"], direct["maps"]):
        np.testing.assert_allclose(got["values"], want["values"], rtol=0, atol=1e-5)
