"""The explanation methods in one table: the registry that computing, choosing, exporting, the page's
method control and its gallery all read.

Each `Method` says what its map is called (the same name in code, JSON, page and README), what it
varies over (encoder layers, backbone stages, or nothing), whether it speaks for one class, how it
is computed from one forward pass (`Activations`) and, for a class, the gradients of that class's
logit (`Gradients`), and how one map is read back out of what was stored. A new method is one
`register(Method(...))`; nothing else needs editing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

import torch

from .cam import gradcam, layercam
from .passes import Activations, Gradients
from .rollout import FUSIONS, gradient_rollout, raw_attention, rollout_maps


class Context(Protocol):
    """What reading a map back needs of its explanation: the stages it has maps for, and the
    fraction of weakest links rollout discarded (an `Explanation` is one)."""

    stages: tuple[str, ...]
    discard: float

LAYER, STAGE = "layer", "stage"  # what a method's maps vary over
# Chosen by the evaluation of the bundled model (python -m scripts.evaluate, docs/benchmark.md): Grad-CAM found the
# object far more often on stage 2 than on stage 3, the map that becomes the tokens.
DEFAULT_STAGE = "stage2"


def default_stage(stages: tuple[str, ...]) -> str:
    """The stage to show first: DEFAULT_STAGE, or the one before the last."""
    return DEFAULT_STAGE if DEFAULT_STAGE in stages else stages[max(0, len(stages) - 2)]


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


Reader = Callable[[Any, MapChoice, Context], tuple[torch.Tensor, str]]
Records = Callable[[Any, Context], Iterator[tuple[torch.Tensor, dict[str, Any]]]]


def _layer(choice: MapChoice, layers: int) -> int:
    layer = layers if choice.layer is None else choice.layer
    if not 1 <= layer <= layers:
        raise ValueError(f"layer must be in [1, {layers}], got {layer}")
    return layer


def _stage(choice: MapChoice, value: dict[str, torch.Tensor], explanation: Context) -> str:
    stage = choice.stage or default_stage(explanation.stages)
    if stage not in value:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(value)}")
    return stage


@dataclass(frozen=True)
class Method:
    """One explanation method.

    Attributes:
        name: its one name (code, JSON, page, README).
        title: a short name for captions ("Grad-CAM").
        label: what the map is, in plain words, for the page's method control.
        compute: (activations, gradients) -> the stored value, batch first: a tensor (B, ...), or
            a dict of them (one per stage). Gradients are None for a method that is not
            class-specific.
        axis: LAYER, STAGE or None: what the maps vary over. A STAGE value is a dict of stage
            maps (B, h, w); a value without an axis is one map (B, h, w).
        class_specific: whether the map explains one class (computed per class from its gradients).
        read: (value of one image, choice, explanation) -> (map (h, w), caption); by default the
            value itself, or its stage's map.
        records: (value of one image, explanation) -> (map, what names it) for the JSON export;
            by default one map, or one per stage.
    """

    name: str
    title: str
    label: str
    compute: Callable[[Activations, Gradients | None], Any]
    axis: str | None = None
    class_specific: bool = False
    read: Reader | None = None
    records: Records | None = None

    def select(self, value: Any, choice: MapChoice, explanation: Context) -> tuple[torch.Tensor, str]:
        """The chosen map of this method's stored value, and a caption that names it."""
        if self.read is not None:
            return self.read(value, choice, explanation)
        if self.axis == STAGE:
            stage = _stage(choice, value, explanation)
            return value[stage], f"{self.title} on {stage}"
        return value, self.title

    def export(self, value: Any, explanation: Context) -> Iterator[tuple[torch.Tensor, dict[str, Any]]]:
        """Every map of this method's stored value, each with what names it (stage, layer...)."""
        if self.records is not None:
            yield from self.records(value, explanation)
        elif self.axis == STAGE:
            for stage, values in value.items():
                yield values, {"stage": stage}
        else:
            yield value, {}


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Adds a method to the table (or replaces the one of that name)."""
    METHODS[method.name] = method
    return method


# --------------------------------------------------------------------------- rollout


def _rollouts(activations: Activations, _: Gradients | None) -> dict[str, torch.Tensor]:
    """fusion -> rollout up to every layer (B, layers, h, w)."""
    return {
        fusion: rollout_maps(activations.attentions, activations.grid, fusion, activations.discard).transpose(0, 1)
        for fusion in activations.fusions
    }


def _read_rollout(value: dict[str, torch.Tensor], choice: MapChoice, explanation: Context) -> tuple[torch.Tensor, str]:
    if choice.fusion not in value:
        kind = KeyError if choice.fusion in FUSIONS else ValueError  # a fusion not computed yet, or none at all
        raise kind(f"no rollout with {choice.fusion!r} fusion; computed: {', '.join(value)}")
    layers = len(value[choice.fusion])
    layer = _layer(choice, layers)
    caption = f"rollout up to layer {layer}/{layers}, {choice.fusion} of heads, discard {explanation.discard:g}"
    return value[choice.fusion][layer - 1], caption


def _rollout_records(value: dict[str, torch.Tensor], explanation: Context) -> Iterator[tuple[torch.Tensor, dict]]:
    for fusion, layers in value.items():
        for layer, values in enumerate(layers, start=1):
            yield values, {"layer": layer, "fusion": fusion, "discard": explanation.discard}


# --------------------------------------------------------------------------- raw attention


def _raw_attentions(activations: Activations, _: Gradients | None) -> torch.Tensor:
    """The class token's attention to the patches (B, layers, heads, h, w)."""
    return torch.stack([raw_attention(a, activations.grid) for a in activations.attentions], dim=1)


def _read_raw_attention(value: torch.Tensor, choice: MapChoice, _: Context) -> tuple[torch.Tensor, str]:
    layers, heads = value.shape[:2]
    layer = _layer(choice, layers)
    caption = f"raw attention of the class token, layer {layer}/{layers}"
    if choice.head is None:
        return value[layer - 1].mean(0), f"{caption}, mean of heads"
    if not 0 <= choice.head < heads:
        raise ValueError(f"head must be in [0, {heads}), got {choice.head}")
    return value[layer - 1, choice.head], f"{caption}, head {choice.head + 1}"


def _raw_attention_records(value: torch.Tensor, _: Context) -> Iterator[tuple[torch.Tensor, dict]]:
    for layer, heads in enumerate(value, start=1):
        yield heads.mean(0), {"layer": layer, "head": "mean"}


# --------------------------------------------------------------------------- class-specific


def _gradient_rollout(activations: Activations, gradients: Gradients | None) -> torch.Tensor:
    return gradient_rollout(activations.attentions, gradients.attentions, activations.grid)


def _per_stage(cam: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[Activations, Gradients | None], dict]:
    """A CAM on every stage the gradients reached: stage -> (B, h, w)."""
    return lambda activations, gradients: {s: cam(activations.stages[s], g) for s, g in gradients.stages.items()}


register(Method("rollout", "Rollout", "Rollout: attention followed through the layers, up to the chosen one",
                _rollouts, axis=LAYER, read=_read_rollout, records=_rollout_records))
register(Method("raw_attention", "Raw attention", "Raw attention: where the class token looks in one layer",
                _raw_attentions, axis=LAYER, read=_read_raw_attention, records=_raw_attention_records))
register(Method("gradient_rollout", "gradient rollout",
                "Gradient rollout: attention weighted by how much it raises the class",
                _gradient_rollout, class_specific=True))
register(Method("gradcam", "Grad-CAM", "Grad-CAM: backbone features that raise the class, region by region",
                _per_stage(gradcam), axis=STAGE, class_specific=True))
register(Method("layercam", "LayerCAM", "LayerCAM: backbone features that raise the class, cell by cell",
                _per_stage(layercam), axis=STAGE, class_specific=True))
