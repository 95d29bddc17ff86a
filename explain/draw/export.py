"""The documented JSON form of maps and explanations (docs/explanations.md, "JSON form"), driven by the method
registry: every registered method's maps are exported under its name.

A map record: {"method", "grid": [h, w], "values": h rows of w floats (as computed, not
normalised), "class_index" and "class_label" for a class-specific method, and where they apply
"layer" (1-based), "head", "stage", "fusion", "discard"}. An explanation: {"format", "view",
"original_size", "crop_box" (the model's input in original-image pixels, left/top/right/bottom),
"predictions": [{"index", "label", "probability"}], "maps": [map records]}.
"""

from __future__ import annotations

from typing import Any

import torch

from explain.explanation import Explanation
from explain.methods import METHODS

FORMAT = 2  # 2: methods named rollout, raw_attention, gradient_rollout, gradcam, layercam (1 had "attention")


def map_record(values: torch.Tensor, method: str, **context: Any) -> dict[str, Any]:
    """One map as a JSON-ready dict: its method, grid, values and whatever names it (class, layer...)."""
    values = torch.nan_to_num(values.detach().float().cpu())
    return {"method": method, "grid": list(values.shape), "values": values.tolist(), **context}


def image_record(explanation: Explanation) -> dict[str, Any]:
    """What a record says of the image: its view, size, where the model input lies in it (the
    crop box, left/top/right/bottom in original pixels), and the predictions."""
    return {
        "view": explanation.view,
        "original_size": list(explanation.geometry.original_size),
        "crop_box": list(explanation.geometry.original_box),
        "predictions": [{"index": p.index, "label": p.label, "probability": p.probability} for p in explanation.predictions],
    }


def explanation_record(explanation: Explanation) -> dict[str, Any]:
    """Every map of an explanation with its predictions, as a JSON-ready dict."""
    maps = []
    for method in METHODS.values():
        if not method.class_specific:
            sources = [(explanation.maps, {})] if method.name in explanation.maps else []
        else:
            sources = [(c.maps, {"class_index": c.index, "class_label": c.label}) for c in explanation.classes.values()]
        for values_of, named in sources:
            for values, context in method.export(values_of[method.name], explanation):
                maps.append(map_record(values, method.name, **context, **named))
    return {"format": FORMAT, **image_record(explanation), "maps": maps}
