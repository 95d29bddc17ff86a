"""Picking one map out of an `Explanation` and drawing it, without running the model.

A `MapChoice` names a map the way the page's controls do (method, layer, head, fusion, stage,
class); `select_map` returns it with a caption, `render` lays it over the user's image, and
`layer_gallery` draws every layer of a layered method side by side. All of them read the method
registry (`explain.methods`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .explanation import Explanation
from .methods import METHODS, MapChoice
from .overlay import DISPLAY_SIDE, overlay

GALLERY_SIDE = 256  # the gallery's thumbnails are drawn at most this large


def method_of(choice: MapChoice):
    """The registered method a choice names (ValueError for an unknown one)."""
    if choice.method not in METHODS:
        raise ValueError(f"unknown method {choice.method!r}; one of {', '.join(METHODS)}")
    return METHODS[choice.method]


def target_class(explanation: Explanation, choice: MapChoice) -> int:
    """The class a map speaks for: the chosen class for a class-specific method, else (or when
    none is chosen) the top prediction."""
    if method_of(choice).class_specific and choice.class_index is not None:
        return choice.class_index
    return explanation.predictions[0].index


def select_map(explanation: Explanation, choice: MapChoice) -> tuple[torch.Tensor, str]:
    """The chosen map on its own grid (h, w) and a caption that names it.

    Raises:
        ValueError: an unknown method, fusion or stage, or a layer or head out of range.
        KeyError: a map that exists but is not computed: a class-specific map of a class the
            explanation has not explained (add it with `explain_class`), or a head fusion the
            rollout was not computed for.
    """
    method = method_of(choice)
    if not method.class_specific:
        return method.select(explanation.maps[method.name], choice, explanation)
    maps = explanation.classes[target_class(explanation, choice)]
    values, caption = method.select(maps.maps[method.name], choice, explanation)
    return values, f"{caption} for “{maps.label}” ({maps.probability:.1%})"


def render(
    image: np.ndarray,
    explanation: Explanation,
    choice: MapChoice,
    colormap: str = "inferno",
    opacity: float = 0.6,
    max_side: int = DISPLAY_SIDE,
) -> tuple[np.ndarray, str]:
    """The chosen map laid over the user's image (RGB uint8) and its caption."""
    values, caption = select_map(explanation, choice)
    return overlay(image, values, explanation.geometry, colormap, opacity, max_side), caption


def layer_gallery(
    image: np.ndarray,
    explanation: Explanation,
    choice: MapChoice,
    colormap: str = "inferno",
    opacity: float = 0.6,
    max_side: int = GALLERY_SIDE,
) -> list[tuple[np.ndarray, str]]:
    """Every layer of the method's gallery method (itself when layered, else rollout), small."""
    gallery = replace(choice, method=method_of(choice).gallery)
    return [
        render(image, explanation, replace(gallery, layer=layer), colormap, opacity, max_side)
        for layer in range(1, explanation.layers + 1)
    ]
