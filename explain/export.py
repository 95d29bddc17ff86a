"""The documented JSON form of maps and explanations.

A map record: {"method", "grid": [h, w], "values": h rows of w floats (as computed, not
normalised), "class_index", "class_label", and where they apply "layer" (1-based), "head",
"stage", "fusion", "discard"}. An explanation: {"view", "original_size", "crop_box" (the model's
input in original-image pixels, left/top/right/bottom), "predictions": [{"index", "label",
"probability"}], "maps": [map records]}.
"""

from __future__ import annotations

from typing import Any

import torch

from .explanation import Explanation


def map_record(values: torch.Tensor, method: str, **context: Any) -> dict[str, Any]:
    """One map as a JSON-ready dict: its method, grid, values and whatever names it (class, layer...)."""
    values = torch.nan_to_num(values.detach().float().cpu())
    return {"method": method, "grid": list(values.shape), "values": values.tolist(), **context}


def explanation_record(explanation: Explanation) -> dict[str, Any]:
    """Every map of an explanation with its predictions, as a JSON-ready dict."""
    maps = []
    for fusion, layers in explanation.rollout.items():
        for layer, values in enumerate(layers, start=1):
            maps.append(map_record(values, "rollout", layer=layer, fusion=fusion, discard=explanation.discard))
    for layer, heads in enumerate(explanation.attention, start=1):
        maps.append(map_record(heads.mean(0), "attention", layer=layer, head="mean"))
    for maps_of in explanation.classes.values():
        named = {"class_index": maps_of.index, "class_label": maps_of.label}
        maps.append(map_record(maps_of.attention, "gradient_rollout", **named))
        for stage in explanation.stages:
            maps.append(map_record(maps_of.gradcam[stage], "gradcam", stage=stage, **named))
            maps.append(map_record(maps_of.layercam[stage], "layercam", stage=stage, **named))
    return {
        "view": explanation.view,
        "original_size": list(explanation.geometry.original_size),
        "crop_box": list(explanation.geometry.original_box),
        "predictions": [{"index": p.index, "label": p.label, "probability": p.probability} for p in explanation.predictions],
        "maps": maps,
    }
