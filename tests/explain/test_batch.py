"""The batched core against `explain` run on each image alone: the same predictions and, map by
map, the same values (to 1e-4 of each map's maximum in float32, 1e-10 in float64)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from explain import explain, explain_class
from explain.batch import explain_batch, same_size_batches
from explain.inputs import model_input
from explain.methods import METHODS
from vit_hybrid.geometry import CropGeometry

# (height, width) of the originals: in whole view they give three different input sizes
SIZES = [(64, 64), (80, 120), (64, 64), (120, 80), (80, 120), (70, 70), (120, 80)]


def images(sizes=SIZES) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def maps_of(value) -> list[torch.Tensor]:
    """Every (h, w) map in a method's value, flattened to (n, h, w) per tensor."""
    if isinstance(value, dict):
        return [m for key in sorted(value) for m in maps_of(value[key])]
    return [value.reshape(-1, *value.shape[-2:])]


def assert_maps_close(got, want, relative: float) -> None:
    for g, w in zip(maps_of(got), maps_of(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = w.abs().amax(dim=(-2, -1))
        difference = (g - w).abs().amax(dim=(-2, -1))
        assert bool((difference <= relative * scale).all()), (difference / scale.clamp(min=1e-300)).max()


def assert_same_as_alone(model, processor, view: str, targets: list[int | None], relative: float) -> None:
    pictures = images()
    inputs = [model_input(p, processor, model.config, view) for p in pictures]
    batched = explain_batch(model, inputs, targets, view=view, top_k=5, batch_size=2)
    for picture, target, got in zip(pictures, targets, batched):
        alone = explain(model, picture, processor, top_k=3, explained=1, view=view)
        index = alone.predictions[0].index if target is None else target
        alone = explain_class(model, alone, index)
        assert [p.index for p in got.predictions[:3]] == [p.index for p in alone.predictions]
        for p, q in zip(got.predictions, alone.predictions):
            assert p.probability == pytest.approx(q.probability, rel=1e-5)
        assert got.grid == alone.grid and got.geometry == alone.geometry and got.view == view
        assert list(got.classes) == [index]
        for name, method in METHODS.items():
            if method.class_specific:
                assert_maps_close(got.classes[index].maps[name], alone.classes[index].maps[name], relative)
            else:
                assert_maps_close(got.maps[name], alone.maps[name], relative)


@pytest.mark.parametrize("view", ["crop", "whole"])
def test_batched_equals_one_at_a_time_in_float32(model, processor, view):
    targets = [None, 3, None, 0, 4, None, 1]
    assert_same_as_alone(model, processor, view, targets, relative=1e-4)


@pytest.mark.parametrize("view", ["crop", "whole"])
def test_batched_equals_one_at_a_time_in_float64(model, processor, view):
    double = copy.deepcopy(model).double()
    assert_same_as_alone(double, processor, view, [None, 2, None, None, 1, 0, None], relative=1e-10)


def test_the_bundled_model_batched_equals_alone(bundled):
    model, processor = bundled
    assert_same_as_alone(model, processor, "whole", [None, 5, None, 2, None, None, 3], relative=1e-4)


def test_batches_hold_one_input_size_each_in_order_of_first_appearance():
    geometry = CropGeometry((1, 1), (1, 1), (0, 0, 1, 1), (0, 0, 1, 1), (0, 0, 0, 0))
    sizes = [(32, 32), (32, 48), (32, 32), (32, 32), (32, 48), (32, 32)]
    inputs = [(torch.zeros(1, 3, h, w), geometry) for h, w in sizes]
    assert list(same_size_batches(inputs, 3)) == [[0, 2, 3], [5], [1, 4]]
    assert list(same_size_batches(inputs, 1)) == [[0], [2], [3], [5], [1], [4]]
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        list(same_size_batches(inputs, 0))


def test_no_backward_and_bad_targets(model, processor):
    inputs = [model_input(p, processor, model.config) for p in images()[:2]]
    plain = explain_batch(model, inputs, [None, 3], class_specific=False)
    assert [list(e.classes) for e in plain] == [[plain[0].predictions[0].index], [3]]
    assert all(c.maps == {} for e in plain for c in e.classes.values()) and all("rollout" in e.maps for e in plain)
    probabilities = model(torch.cat([p for p, _ in inputs])).logits.softmax(-1)
    assert plain[1].classes[3].probability == pytest.approx(float(probabilities[1, 3]), rel=1e-5)
    with pytest.raises(ValueError, match=r"class index must be in \[0, 5\), got 5"):
        explain_batch(model, inputs, [None, 5])
    with pytest.raises(ValueError, match="1 targets for 2 inputs"):
        explain_batch(model, inputs, [None])
