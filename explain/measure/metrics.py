"""Measures of a map's quality: deletion and insertion curves (Petsiuk et al., 2018) against a
random order, the pointing game, and the share of a map's energy inside a mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from vit_hybrid import ViTHybridForImageClassification


@dataclass(frozen=True)
class Curve:
    """Class probability after each step; `fractions` of pixels changed, `area` under the curve."""

    fractions: list[float]
    scores: list[float]
    area: float


@dataclass(frozen=True)
class Faithfulness:
    """Deletion (lower area is better) and insertion (higher is better), for the map and for a
    random pixel order."""

    deletion: Curve
    insertion: Curve
    random_deletion: Curve
    random_insertion: Curve


def _upsample(values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(values.float()[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]


def _scores(model: ViTHybridForImageClassification, images: torch.Tensor, index: int) -> list[float]:
    """The probability of class `index` for each image of a batch."""
    with torch.no_grad():
        logits = model(images.to(model.device), interpolate_pos_encoding=True).logits
    return logits.float().softmax(-1)[:, index].tolist()


def _curve(
    model: ViTHybridForImageClassification,
    start: torch.Tensor,
    end: torch.Tensor,
    order: torch.Tensor,
    index: int,
    steps: int,
    batch_size: int,
    progress: Callable[[int], None],
    run: Callable[[Callable[[], list[float]]], list[float]],
) -> Curve:
    """Moves pixels from `start` to `end` in `order`, `steps` equal slices, scoring each image;
    each batch's scoring is handed to `run`."""
    _, channels, height, width = start.shape
    counts = [round(k * order.numel() / steps) for k in range(steps + 1)]
    scores: list[float] = []
    for first in range(0, steps + 1, batch_size):
        batch = []
        for count in counts[first : first + batch_size]:
            changed = torch.zeros(height * width, dtype=torch.bool)
            changed[order[:count]] = True
            batch.append(torch.where(changed.view(1, height, width), end[0], start[0]))
        scores += run(lambda: _scores(model, torch.stack(batch), index))
        progress(len(batch))
    fractions = [c / order.numel() for c in counts]
    area = sum((fractions[i + 1] - fractions[i]) * (scores[i] + scores[i + 1]) / 2 for i in range(steps))
    return Curve(fractions, scores, float(area))


def deletion_insertion(
    model: ViTHybridForImageClassification,
    pixel_values: torch.Tensor,
    values: torch.Tensor,
    index: int,
    steps: int = 16,
    baseline: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 8,
    progress: Callable[[int], None] = lambda done: None,
    random: tuple[Curve, Curve] | None = None,
    run: Callable[[Callable[[], list[float]]], list[float]] = lambda work: work(),
) -> Faithfulness:
    """Deletion and insertion curves of a map for class `index`, and the same for a random order.

    Deletion replaces the most relevant pixels first by `baseline` (default zeros: the processor's
    mean colour); insertion starts from the baseline and puts them back. Each curve runs the model
    on steps + 1 images; `progress` is told how many images each batch scored.

    Args:
        pixel_values: the model input (1, C, H, W).
        values: the map on its own grid (h, w), upsampled to the input bilinearly.
        random: the random order's (deletion, insertion) curves, when already computed for
            another map of the same image and class (they do not depend on the map).
        run: runs each batch's scoring (a function of no arguments) and returns its result; the
            app hands it to its scheduler, a step per batch.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    height, width = pixel_values.shape[-2:]
    baseline = torch.zeros_like(pixel_values) if baseline is None else baseline
    relevance = _upsample(torch.nan_to_num(values), (height, width)).flatten()
    order = torch.argsort(relevance, descending=True, stable=True)
    curve = lambda a, b, o: _curve(model, a, b, o, index, steps, batch_size, progress, run)  # noqa: E731
    if random is None:
        shuffled = torch.randperm(height * width, generator=torch.Generator().manual_seed(seed))
        random = curve(pixel_values, baseline, shuffled), curve(baseline, pixel_values, shuffled)
    return Faithfulness(curve(pixel_values, baseline, order), curve(baseline, pixel_values, order), *random)


def pointing_game(values: torch.Tensor, mask: torch.Tensor, tolerance: int = 0) -> bool:
    """Whether the map's peak, upsampled to the mask's size, falls inside the mask dilated by
    `tolerance` pixels (a square neighbourhood)."""
    mapped = _upsample(torch.nan_to_num(values), tuple(mask.shape))
    if tolerance > 0:
        mask = F.max_pool2d(mask.float()[None, None], 2 * tolerance + 1, stride=1, padding=tolerance)[0, 0] > 0
    peak = int(mapped.flatten().argmax())
    return bool(mask.flatten()[peak])


def energy_inside(values: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of the map's positive mass (upsampled to the mask's size) inside the mask; 0 when the
    map has none."""
    mapped = _upsample(torch.nan_to_num(values), tuple(mask.shape)).clamp(min=0)
    total = float(mapped.sum())
    return float(mapped[mask.bool()].sum()) / total if total > 0 else 0.0
