"""The statistics of the evaluation script, by hand."""

from __future__ import annotations

import pytest
import torch

from explain.statistics import mean_interval, spearman, wilson


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
