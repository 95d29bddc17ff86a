"""The evaluation script: its statistics by hand, and its scores against `explain` on each scene."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from explain import explain, explain_class
from explain.benchmark.scenes import TEST_SEED, make_scene, region
from explain.measure.metrics import energy_inside, pointing_game
from explain.measure.statistics import mean_interval, spearman, wilson
from tests.helpers import BUNDLED, ROOT
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor


def test_wilson_interval():
    p, low, high = wilson(50, 100)
    assert p == 0.5 and low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(100, 100)[1] == pytest.approx(0.9630, abs=1e-4) and wilson(100, 100)[2] == pytest.approx(1.0)


def test_mean_interval():
    # sample standard deviation of 1..4 is sqrt(5/3) = 1.2909944; half-width 1.96 * 1.2909944 / sqrt(4)
    mean, low, high = mean_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and low == pytest.approx(2.5 - 1.2651745, abs=1e-6) and high == pytest.approx(2.5 + 1.2651745, abs=1e-6)
    assert mean_interval([7.0]) == (7.0, 7.0, 7.0)  # one value: no spread to estimate


def test_spearman_uses_average_ranks_for_ties():
    # ranks (1 + 2 + 3) / 3 = 2 for the three zeros: x = [2, 2, 2, 4, 5], y = [2, 2, 2, 5, 4] -> 0.875
    assert spearman(torch.tensor([0, 0, 0, 1.0, 2.0]), torch.tensor([0, 0, 0, 2.0, 1.0])) == pytest.approx(0.875)
    assert spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert spearman(torch.zeros(4), torch.arange(4.0)) == 0.0


def test_the_script_scores_each_scene_as_explain_alone_does(tmp_path):
    """scripts/evaluate.py on six scenes (through the batched core) against `explain` and
    `explain_class` run on each scene alone: the same accuracy, hits and energies."""
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, "-m", "scripts.evaluate", "--scenes", "6", "--random-scenes", "2", "--json", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())
    model = ViTHybridForImageClassification.from_pretrained(BUNDLED).requires_grad_(False)
    processor = ViTHybridImageProcessor.from_pretrained(BUNDLED)
    correct, hits, energy = 0, {"rollout": 0, "Grad-CAM stage2": 0}, {"rollout": [], "Grad-CAM stage2": []}
    for index in range(6):
        scene = make_scene(TEST_SEED, index, 128)
        e = explain_class(model, explain(model, scene.image, processor, top_k=1, fusions=("mean",)), scene.label)
        correct += e.predictions[0].index == scene.label
        mask = region(scene, model.config.token_stride // 2)
        for name, values in (("rollout", e.rollout["mean"][-1]), ("Grad-CAM stage2", e.classes[scene.label].gradcam["stage2"])):
            hits[name] += pointing_game(values, mask)
            energy[name].append(energy_inside(values, mask))
    assert results["accuracy"][0] == correct / 6
    for name in hits:
        assert results["methods"][name]["pointing_game"][0] == hits[name] / 6
        assert results["methods"][name]["energy_inside"][0] == pytest.approx(sum(energy[name]) / 6, abs=1e-6)
