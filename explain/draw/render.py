"""Picking one map out of an `Explanation` and drawing it, without running the model.

A `MapChoice` names a map the way the page's controls do (method, layer, head, fusion, stage,
class); `select_map` returns it with a caption, `render` lays it over the user's image, and
`gallery` says which maps of a method go side by side: its layers, its stages, or the classes.
All of them read the method registry (`explain.methods`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from explain.explanation import Explanation
from explain.methods import LAYER, METHODS, STAGE, MapChoice, Method

from .overlay import DISPLAY_SIDE, overlay

GALLERY_SIDE = 256  # the gallery's thumbnails are drawn at most this large


def percent(probability: float) -> str:
    """A probability as every caption and label shows it: a whole percent, rounded half up as the
    page's prediction bars round it (so 0.995 reads 100% everywhere, never 99.5% in one place)."""
    return f"{math.floor(probability * 100 + 0.5)}%"


def is_empty(values: torch.Tensor) -> bool:
    """Whether a map is constant (all zeros, say): nothing in it to show."""
    return not bool(values.max() > values.min())


def method_of(choice: MapChoice) -> Method:
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
    return values, f"{caption} for “{maps.label}” ({percent(maps.probability)})"


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


def gallery(explanation: Explanation, choice: MapChoice) -> tuple[str, list[tuple[MapChoice, str]]]:
    """What the gallery shows for the chosen method, side by side: its layers (rollout, raw
    attention), its stages (Grad-CAM, LayerCAM, for the chosen class) or the explained classes
    (gradient rollout); a title that says which, and each map's choice and label."""
    method = method_of(choice)
    if method.axis == LAYER:
        title, choices = "layer by layer", [(replace(choice, layer=n), f"layer {n}") for n in range(1, explanation.layers + 1)]
    elif method.axis == STAGE:
        classes = explanation.classes.get(target_class(explanation, choice))
        stages = [s for s in explanation.stages if classes and s in classes.maps[method.name]]
        title, choices = "stage by stage", [(replace(choice, stage=s), s) for s in stages]
    elif method.class_specific:
        title = "class by class"
        choices = [(replace(choice, class_index=i), f"{c.label} ({percent(c.probability)})")
                   for i, c in explanation.classes.items()]
    else:
        title, choices = "", [(choice, method.title)]
    name = method.title[:1].upper() + method.title[1:]
    return (f"{name}, {title}" if title else name), choices
