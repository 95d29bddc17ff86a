"""The page's handlers called as plain functions, without a server: their updates, by component name,
for an upload, a control change, a model switch, a bad file and a class outside the top k."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BUNDLED, EXAMPLES, MODELS, SHAPES, load_photo

from explain import MapChoice, explain
from explain.render import render
from explorer import handlers
from explorer.controls import Controls
from explorer.store import ModelStore

STAR = str(EXAMPLES / "scene-star.png")


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore({"bundled": str(BUNDLED), "tiny": str(MODELS / "same_padding")})


@pytest.fixture(scope="module")
def uploaded(store):
    return handlers.on_image(store, STAR, "crop", "bundled", None, Controls())


def test_an_upload_shows_the_predictions_the_default_map_and_fits_the_controls(store, uploaded):
    served = store.get("bundled")
    direct = explain(served.model, load_photo("scene-star.png"), served.processor)
    assert list(uploaded["predictions"]) == [p.label for p in direct.predictions]
    assert uploaded["predictions"]["star"] == pytest.approx(direct.predictions[0].probability, abs=1e-6)
    state = uploaded["state"]
    assert (state.source, state.view, state.model) == (STAR, "crop", "bundled")
    want, caption = render(state.image, state.explanation, MapChoice("rollout"))
    np.testing.assert_array_equal(uploaded["overlay"], want)
    assert uploaded["caption"] == caption == "rollout up to layer 4/4, mean of heads, discard 0.9"
    assert uploaded["class_index"]["value"] == direct.predictions[0].index
    assert uploaded["layer"]["maximum"] == 4 and uploaded["stage"]["value"] == "stage2"
    assert uploaded["status"] == "**Explained with bundled (8×8 tokens).**"
    assert uploaded["json_download"].endswith(".json")


def test_the_same_upload_again_changes_nothing(store, uploaded):
    assert handlers.on_image(store, STAR, "crop", "bundled", uploaded["state"], Controls()) == {}


def test_a_control_change_redraws_from_the_stored_analysis(store, uploaded):
    state = uploaded["state"]
    updates = handlers.on_control(store, state, Controls(method="gradcam", stage="stage1", colormap="viridis", opacity=0.3))
    assert set(updates) == {"overlay", "caption", "drawn"}  # no new state: nothing was computed
    want, _ = render(state.image, state.explanation, MapChoice("gradcam", stage="stage1"), "viridis", 0.3)
    np.testing.assert_array_equal(updates["overlay"], want)
    assert updates["caption"].startswith("Grad-CAM on stage1 for “star”")


def test_a_class_outside_the_top_k_runs_the_model_once_more_and_says_so(store, uploaded):
    state = uploaded["state"]
    (missing,) = [i for i, name in enumerate(SHAPES) if name not in uploaded["predictions"]]
    updates = handlers.on_control(store, state, Controls(method="layercam", class_index=missing))
    assert updates["state"].explanation.extra_passes == (missing,)
    assert updates["status"] == f"**“{SHAPES[missing]}” is not among the top 5: the model ran once more to explain it.**"
    assert updates["caption"].startswith(f"LayerCAM on stage2 for “{SHAPES[missing]}”")
    assert updates["json_download"].endswith(".json")


def test_a_model_switch_is_kept_or_refused_with_the_reason(store):
    assert handlers.on_model(store, "tiny", "bundled") == {"current_model": "tiny", "status": "**Now using tiny.**"}
    refused = handlers.on_model(store, "someone/else", "bundled")
    assert refused["model"] == "bundled" and "is not one of the models this app serves" in refused["status"]
    assert "current_model" not in refused


def test_a_bad_file_gets_its_message_and_keeps_the_last_result(store, uploaded, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("a shopping list, not a picture\n")
    updates = handlers.on_image(store, str(notes), "crop", "bundled", uploaded["state"], Controls())
    assert list(updates) == ["status"] and "is a text file, not an image" in updates["status"]


def test_measuring_before_an_upload_asks_for_one(store):
    assert handlers.on_measure(store, None, Controls()) == {"measure_note": "**⚠️ Upload an image first.**"}
