"""The statistics the scene benchmark reports: proportions and means with 95% intervals, and
Spearman's rank correlation between two maps (the model-randomisation check)."""

from __future__ import annotations

import math

import numpy as np
import torch


def wilson(hits: int, n: int) -> tuple[float, float, float]:
    """Proportion and its 95% Wilson score interval."""
    if n == 0:
        return 0.0, 0.0, 0.0
    z, p = 1.96, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95% normal-approximation interval."""
    array = np.asarray(values, dtype=np.float64)
    half = 1.96 * array.std(ddof=1) / math.sqrt(len(array)) if len(array) > 1 else 0.0
    return float(array.mean()), float(array.mean() - half), float(array.mean() + half)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank (as Spearman's coefficient defines them)."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps; 0 when either is constant."""
    x, y = (average_ranks(t.flatten().double().numpy()) for t in (a, b))
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])
