"""Picking one map out of an `Explanation` and drawing it, without running the model.

A `MapChoice` names a map the way the app's controls do (method, layer, head, fusion, stage,
class); `select_map` returns it with a caption, `render` lays it over the user's image, and
`layer_gallery` draws every layer of a layered method side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .explanation import Explanation, default_stage
from .overlay import overlay

METHODS = {
    "rollout": "Attention rollout",
    "attention": "Raw attention",
    "class_attention": "Class attention (gradient rollout)",
    "gradcam": "Grad-CAM",
    "layercam": "LayerCAM",
}
LAYERED = ("rollout", "attention")  # maps that exist per encoder layer
CLASS_SPECIFIC = ("class_attention", "gradcam", "layercam")  # maps that explain one class


@dataclass(frozen=True)
class MapChoice:
    """Which map to show. `layer` is 1-based (None: the last), `head` 0-based (None: the mean over
    heads), `stage` a backbone stage (None: the default one), `class_index` a class (None: the
    top prediction)."""

    method: str = "rollout"
    layer: int | None = None
    head: int | None = None
    fusion: str = "mean"
    stage: str | None = None
    class_index: int | None = None


def target_class(explanation: Explanation, choice: MapChoice) -> int:
    """The class a map speaks for: the chosen class for a class-specific method, else (or when
    none is chosen) the top prediction."""
    if choice.method in CLASS_SPECIFIC and choice.class_index is not None:
        return choice.class_index
    return explanation.predictions[0].index


def gallery_method(choice: MapChoice) -> str:
    """The layered method the gallery shows: the chosen one, or rollout for a method without layers."""
    return choice.method if choice.method in LAYERED else "rollout"


def select_map(explanation: Explanation, choice: MapChoice) -> tuple[torch.Tensor, str]:
    """The chosen map on its own grid (h, w) and a caption that names it.

    Raises:
        ValueError: an unknown method, fusion or stage, or a layer or head out of range.
        KeyError: a class-specific map of a class the explanation has not computed (add it with
            `explain_class`).
    """
    if choice.method not in METHODS:
        raise ValueError(f"unknown method {choice.method!r}; one of {', '.join(METHODS)}")
    layers, heads = explanation.attention.shape[:2]
    layer = layers if choice.layer is None else choice.layer
    if choice.method in LAYERED and not 1 <= layer <= layers:
        raise ValueError(f"layer must be in [1, {layers}], got {layer}")
    if choice.method == "rollout":
        if choice.fusion not in explanation.rollout:
            raise ValueError(f"no rollout with {choice.fusion!r} fusion; computed: {', '.join(explanation.rollout)}")
        caption = f"rollout up to layer {layer}/{layers}, {choice.fusion} of heads, discard {explanation.discard:g}"
        return explanation.rollout[choice.fusion][layer - 1], caption
    if choice.method == "attention":
        if choice.head is None:
            return explanation.attention[layer - 1].mean(0), f"class-token attention, layer {layer}/{layers}, mean of heads"
        if not 0 <= choice.head < heads:
            raise ValueError(f"head must be in [0, {heads}), got {choice.head}")
        return explanation.attention[layer - 1, choice.head], f"class-token attention, layer {layer}/{layers}, head {choice.head + 1}"
    maps = explanation.classes[target_class(explanation, choice)]
    label = f"“{maps.label}” ({maps.probability:.1%})"
    if choice.method == "class_attention":
        return maps.attention, f"gradient-weighted rollout for {label}"
    stage = choice.stage or default_stage(explanation.stages)
    if stage not in explanation.stages:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(explanation.stages)}")
    values = (maps.gradcam if choice.method == "gradcam" else maps.layercam)[stage]
    return values, f"{METHODS[choice.method]} on {stage} for {label}"


def render(
    image: np.ndarray, explanation: Explanation, choice: MapChoice, colormap: str = "inferno", opacity: float = 0.6,
    max_side: int = 1024,
) -> tuple[np.ndarray, str]:
    """The chosen map laid over the user's image (RGB uint8) and its caption."""
    values, caption = select_map(explanation, choice)
    return overlay(image, values, explanation.geometry, colormap, opacity, max_side), caption


def layer_gallery(
    image: np.ndarray, explanation: Explanation, choice: MapChoice, colormap: str = "inferno", opacity: float = 0.6,
    max_side: int = 256,
) -> list[tuple[np.ndarray, str]]:
    """Every layer of the chosen layered method (rollout when the method has no layers), small."""
    layers = explanation.attention.shape[0]
    return [
        render(image, explanation, replace(choice, method=gallery_method(choice), layer=layer), colormap, opacity, max_side)
        for layer in range(1, layers + 1)
    ]
