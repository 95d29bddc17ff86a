"""Naming one map on the command line: `rollout`, `rollout:3`, `raw_attention`, `gradient_rollout`,
`gradcam`, `gradcam:stage1`, `layercam:stage3`.

A method's name alone is its map as the page first shows it (the last layer; mean fusion and
mean of heads; the default stage); after a colon, a layer (1-based) for a layered method or a
stage for a staged one. The map is read back with the JSON form's names (`explain.draw.export`), so a
dataset's maps are named exactly as the page's downloads name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from explain.explanation import Explanation
from explain.methods import LAYER, METHODS, STAGE, default_stage
from vit_hybrid import ViTHybridConfig

PAGE_DEFAULTS = ",".join(METHODS)  # every method at the page's default


@dataclass(frozen=True)
class MapSpec:
    """One map of each image: a registered method and, where it has one, its layer or stage."""

    method: str
    layer: int | None = None
    stage: str | None = None

    @property
    def name(self) -> str:
        """The map as written on the command line, with its layer or stage (`gradcam:stage2`)."""
        qualifier = self.layer if self.layer is not None else self.stage
        return self.method if qualifier is None else f"{self.method}:{qualifier}"

    @classmethod
    def parse(cls, text: str, config: ViTHybridConfig) -> MapSpec:
        """The map `text` names for a model of `config`, its layer or stage filled in;
        ValueError saying what is wrong otherwise."""
        method, _, qualifier = text.strip().partition(":")
        if method not in METHODS:
            raise ValueError(f"unknown map {text!r}: the methods are {', '.join(METHODS)}")
        axis = METHODS[method].axis
        if axis == LAYER:
            layers = config.num_hidden_layers
            if qualifier and not (qualifier.isdigit() and 1 <= int(qualifier) <= layers):
                raise ValueError(f"{text!r}: after {method}: comes a layer from 1 to {layers}")
            return cls(method, layer=int(qualifier) if qualifier else layers)
        if axis == STAGE:
            stages = config.stage_names
            if qualifier and qualifier not in stages:
                raise ValueError(f"{text!r}: after {method}: comes a stage, one of {', '.join(stages)}")
            return cls(method, stage=qualifier or default_stage(stages))
        if qualifier:
            raise ValueError(f"{text!r}: {method} takes no layer or stage")
        return cls(method)

    def record(self, explanation: Explanation) -> tuple[torch.Tensor, dict[str, Any]]:
        """This map of an explanation (h, w) and the JSON form's names for it (method, layer,
        fusion, head, stage, class_index, class_label, as they apply). A class-specific map is
        that of the explanation's first explained class."""
        method = METHODS[self.method]
        if method.class_specific:
            maps = next(iter(explanation.classes.values()))
            value, named = maps.maps[self.method], {"class_index": maps.index, "class_label": maps.label}
        else:
            value, named = explanation.maps[self.method], {}
        for values, context in method.export(value, explanation):
            if (context.get("layer") == self.layer and context.get("stage") == self.stage
                    and context.get("fusion", "mean") == "mean" and context.get("head", "mean") == "mean"):
                return values, {"method": self.method, **context, **named}
        raise ValueError(f"the explanation holds no {self.name} map")


def parse_maps(text: str, config: ViTHybridConfig) -> list[MapSpec]:
    """Comma-separated map names (`rollout,gradcam:stage2`), each once."""
    specs = [MapSpec.parse(part, config) for part in text.split(",") if part.strip()]
    if not specs:
        raise ValueError("no map named: give one or more of " + PAGE_DEFAULTS)
    return list(dict.fromkeys(specs))
