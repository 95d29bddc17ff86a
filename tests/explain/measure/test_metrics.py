"""Quality measures: pointing game and energy by hand, deletion/insertion curves on a real model."""

from __future__ import annotations

import pytest
import torch

from explain.measure.metrics import deletion_insertion, energy_inside, pointing_game
from tests.helpers import MODELS
from vit_hybrid import ViTHybridForImageClassification


def test_pointing_game_by_hand():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:4, 2:4] = True
    hit = torch.zeros(8, 8)
    hit[3, 3] = 1.0
    near = torch.zeros(8, 8)
    near[3, 5] = 1.0  # two pixels right of the mask
    assert pointing_game(hit, mask)
    assert not pointing_game(near, mask)
    assert not pointing_game(near, mask, tolerance=1)
    assert pointing_game(near, mask, tolerance=2)


def test_energy_inside_by_hand():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2] = True
    values = torch.zeros(4, 4)
    values[0, 0], values[3, 3], values[1, 1] = 3.0, 1.0, -5.0  # negative mass does not count
    assert energy_inside(values, mask) == pytest.approx(0.75)
    assert energy_inside(torch.zeros(4, 4), mask) == 0.0


def test_deletion_and_insertion_curves_on_a_real_model():
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    x = torch.randn(1, 3, 64, 64)
    saliency = torch.randperm(64 * 64).float().reshape(64, 64)  # on the input's own grid: every pixel ranked, no ties
    calls = []
    result = deletion_insertion(model, x, saliency, index=2, steps=4, batch_size=3, progress=calls.append)
    with torch.no_grad():
        start = model(x).logits.softmax(-1)[0, 2].item()
        empty = model(torch.zeros_like(x)).logits.softmax(-1)[0, 2].item()
    for curve in (result.deletion, result.random_deletion):
        assert curve.fractions == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert curve.scores[0] == pytest.approx(start, abs=1e-5) and curve.scores[-1] == pytest.approx(empty, abs=1e-5)
    for curve in (result.insertion, result.random_insertion):
        assert curve.scores[0] == pytest.approx(empty, abs=1e-5) and curve.scores[-1] == pytest.approx(start, abs=1e-5)
    trapezoid = sum(0.25 * (a + b) / 2 for a, b in zip(result.deletion.scores, result.deletion.scores[1:]))
    assert result.deletion.area == pytest.approx(trapezoid)
    assert sum(calls) == 4 * 5  # every scored image reported

    def probability(image: torch.Tensor) -> float:
        with torch.no_grad():
            return model(image).logits.softmax(-1)[0, 2].item()

    # Halfway, the map's order has deleted exactly its most relevant half (inserted, for insertion),
    # and the random order the first half of the seed-0 permutation: each image built here by hand.
    top_half = (saliency >= 64 * 64 / 2).view(1, 1, 64, 64)
    random_half = torch.zeros(64 * 64, dtype=torch.bool)
    random_half[torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))[: 64 * 64 // 2]] = True
    random_half = random_half.view(1, 1, 64, 64)
    zeros = torch.zeros_like(x)
    assert result.deletion.scores[2] == pytest.approx(probability(torch.where(top_half, zeros, x)), abs=1e-5)
    assert result.insertion.scores[2] == pytest.approx(probability(torch.where(top_half, x, zeros)), abs=1e-5)
    assert result.random_deletion.scores[2] == pytest.approx(probability(torch.where(random_half, zeros, x)), abs=1e-5)
    assert result.random_insertion.scores[2] == pytest.approx(probability(torch.where(random_half, x, zeros)), abs=1e-5)
