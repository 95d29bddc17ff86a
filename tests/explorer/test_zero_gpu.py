"""ZeroGPU: the decorated function takes and returns only what pickles (names and tensors), runs on
the CPU under the real `spaces` package, and gives what `explain` gives; on ZeroGPU the app loads
every model at start-up and the page shows every map of the first call at once."""

from __future__ import annotations

import pickle

import pytest
import spaces
import torch

from explain import explain
from explain.explanation import assemble
from explain.inputs import model_input
from explorer import analysis, gpu, launch
from explorer.controls import Controls
from explorer.handlers import on_image
from explorer.paths import BUNDLED_NAME
from tests.helpers import EXAMPLES, MODELS, load_photo
from vit_hybrid.images import load_image


def test_the_decorated_function_pickles_and_matches_explain(model, processor, monkeypatch):
    assert not spaces.config.Config.zero_gpu and not gpu.ZERO_GPU  # elsewhere spaces.GPU changes nothing
    assert not hasattr(gpu.explain_on_gpu, "zerogpu")
    monkeypatch.setitem(gpu.MODELS, "tiny", model)
    pixel_values, geometry = model_input(load_image(EXAMPLES / "coffee.jpg"), processor, model.config)
    arguments = pickle.loads(pickle.dumps(("tiny", pixel_values, 5, ("mean", "max", "min"), 0.9)))
    tensors = pickle.loads(pickle.dumps(gpu.explain_on_gpu(*arguments)))
    ours = assemble(model, tensors, pixel_values, geometry, "crop")
    direct = explain(model, load_photo("coffee.jpg"), processor)
    assert [p.index for p in ours.predictions] == [p.index for p in direct.predictions]
    for fusion, maps in direct.rollout.items():
        torch.testing.assert_close(ours.rollout[fusion], maps, atol=1e-6, rtol=0)
    for index, maps in direct.classes.items():
        for stage in direct.stages:
            torch.testing.assert_close(ours.classes[index].gradcam[stage], maps.gradcam[stage], atol=1e-6, rtol=0)
        torch.testing.assert_close(ours.classes[index].gradient_rollout, maps.gradient_rollout, atol=1e-6, rtol=0)


@pytest.fixture
def zero_gpu(monkeypatch):
    """The app as on ZeroGPU: the flag on, and each call's arguments and results pickled, as they
    cross ZeroGPU's fork."""
    calls = []

    def across_the_fork(*arguments):
        calls.append(arguments[0])
        return pickle.loads(pickle.dumps(gpu.explain_on_gpu(*pickle.loads(pickle.dumps(arguments)))))

    monkeypatch.setattr(analysis, "ZERO_GPU", True)
    monkeypatch.setattr(launch, "ZERO_GPU", True)
    monkeypatch.setattr(analysis, "explain_on_gpu", across_the_fork)
    before = dict(gpu.MODELS)
    gpu.MODELS.clear()
    yield calls
    gpu.MODELS.clear()
    gpu.MODELS.update(before)


def test_on_zero_gpu_every_model_is_loaded_at_start_and_the_page_shows_all_at_once(zero_gpu):
    tiny = str(MODELS / "same_padding")
    store, default, note = launch.make_store(launch.parse_args(["--model", tiny, "--max-models", "1"]))
    assert set(gpu.MODELS) == {tiny, BUNDLED_NAME} and store.loaded() == [tiny, BUNDLED_NAME]
    assert default == tiny
    messages = list(on_image(store, str(EXAMPLES / "scene-star.png"), "crop", BUNDLED_NAME, BUNDLED_NAME, None, Controls()))
    assert zero_gpu == [BUNDLED_NAME]  # one call for everything
    first, fitted, last = messages  # no class steps: every map came with the first
    assert "class_index" in first and "layer" in fitted  # the class control with the predictions, then the rest
    assert len(first["state"].analysis.explanation.classes) == 5 and first["state"].pending == []
    assert first["caption"].startswith("rollout up to layer 4/4")
    assert last["status"].startswith("**Explained with") and "gallery" in last
    assert last["json_download"]["value"].endswith(".json")
