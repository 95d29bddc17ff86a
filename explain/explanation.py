"""One forward pass, every map: the `Explanation` a UI re-renders from without running the model.

`explain` runs the model once with attentions and the backbone's stage maps, computes every
registered method that is not class-specific from it, then one activation-only backward per
explained class for the class-specific ones (`explain.methods`). Maps are float32 on their own
grid (token grid or stage grid), on the CPU, not normalised. `explain_class` adds a class outside
the top k with one more pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import PIL.Image
import torch

from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.geometry import CropGeometry

from .inputs import MAX_TOKENS, model_input
from .methods import METHODS
from .passes import Activations, ForwardPass, Gradients
from .rollout import DISCARD, FUSIONS


def take(value: Any, row: int) -> Any:
    """Image `row` of a batch-first method value (a tensor or a dict of them), on the CPU."""
    if isinstance(value, dict):
        return {k: take(v, row) for k, v in value.items()}
    return value[row].cpu()


def method_values(activations: Activations, gradients: Gradients | None) -> dict[str, Any]:
    """Every registered method's value, batch first: the class-specific ones when `gradients` are
    given, the others when not."""
    specific = gradients is not None
    with torch.no_grad():
        return {m.name: m.compute(activations, gradients) for m in METHODS.values() if m.class_specific == specific}


def merge_maps(maps: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Method values with more merged in: a dict value (one map per fusion or stage) gains the keys
    it lacks; anything already there is kept."""
    merged = dict(maps)
    for name, value in more.items():
        if name not in merged:
            merged[name] = value
        elif isinstance(value, dict):
            merged[name] = {**merged[name], **{k: v for k, v in value.items() if k not in merged[name]}}
    return merged


class _Maps:
    """Reads a method's stored value as an attribute: `explanation.rollout`, `maps.gradcam`."""

    maps: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        maps = self.__dict__.get("maps")
        if name.startswith("_") or maps is None or name not in maps:
            raise AttributeError(f"{type(self).__name__} has no attribute or map {name!r}")
        return maps[name]


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ClassMaps(_Maps):
    """The class-specific maps of one class: method name -> value (e.g. `maps.gradcam["stage2"]`,
    `maps.gradient_rollout`)."""

    index: int
    label: str
    probability: float
    maps: dict[str, Any]


@dataclass(frozen=True)
class Explanation(_Maps):
    """Everything the maps of one image need, detached from any graph.

    Attributes:
        predictions: the top k classes, most probable first.
        grid: the token grid (h, w) of this input.
        maps: method name -> value for the methods that are not class-specific:
            `rollout` (fusion -> (layers, h, w), up to each layer) and `raw_attention`
            (layers, heads, h, w); also readable as attributes (`explanation.rollout`).
        classes: class index -> its `ClassMaps`, for the explained top-k classes and any added later.
        geometry: where the model input sits in the original image.
        view: "crop" or "whole".
        pixel_values: the model input (1, C, H, W), for faithfulness measures.
        stages: the backbone stages that get maps.
        layers, heads: the encoder's layers and heads per layer.
        discard: the fraction of weakest links the rollout discarded.
        extra_passes: classes computed by a later pass of `explain_class`.
    """

    predictions: list[Prediction]
    grid: tuple[int, int]
    maps: dict[str, Any]
    classes: dict[int, ClassMaps]
    geometry: CropGeometry
    view: str
    pixel_values: torch.Tensor
    stages: tuple[str, ...]
    layers: int
    heads: int
    discard: float
    extra_passes: tuple[int, ...] = field(default=())


def class_maps(
    model: ViTHybridForImageClassification, probabilities: torch.Tensor, index: int, values: dict[str, Any]
) -> ClassMaps:
    """The `ClassMaps` of class `index` from one image's method values."""
    return ClassMaps(index, model.config.id2label.get(index, str(index)), float(probabilities[index]), values)


class Steps:
    """One image's maps computed in steps from one kept forward pass, as tensors and names only, for
    a page that shows the predictions and the maps that need no gradient first, then each class's
    maps as they come.

    Attributes:
        probabilities: the softmax of the logits (labels,), float32 on the CPU.
        pending: the top-k classes still to explain, in order (`explained` of the `top_k`).
        maps: method name -> value for the methods that are not class-specific.
        classes: class index -> method name -> value, for the classes added so far.
    """

    def __init__(
        self,
        model: ViTHybridForImageClassification,
        pixel_values: torch.Tensor,
        *,
        top_k: int = 5,
        explained: int | None = None,
        fusions: tuple[str, ...] = FUSIONS,
        discard: float = DISCARD,
        autocast: torch.dtype | None = None,
    ) -> None:
        top_k = max(1, min(top_k, model.config.num_labels))
        explained = top_k if explained is None else max(0, min(explained, top_k))
        self._forward = ForwardPass(model, pixel_values, explained > 0, fusions, discard, autocast)
        self.probabilities = self._forward.logits[0].float().softmax(-1).cpu()
        self.pending = self.probabilities.topk(top_k).indices[:explained].tolist()
        self.maps = take(method_values(self._forward.activations, None), 0)
        self.classes: dict[int, dict[str, Any]] = {}

    def add(self, index: int) -> dict[str, Any]:
        """Class `index`'s values (one backward; the graph is freed after the last pending class)."""
        if index in self.pending:
            self.pending.remove(index)
        gradients = self._forward.gradients([index], retain=bool(self.pending))
        self.classes[index] = take(method_values(self._forward.activations, gradients), 0)
        return self.classes[index]

    def add_fusions(self, fusions: tuple[str, ...]) -> dict[str, Any]:
        """Computes rollout for more head fusions from the kept attentions (the first message
        needs only the one on screen); returns the maps with them merged in."""
        activations = self._forward.activations
        extra = tuple(f for f in fusions if f not in activations.fusions)
        self._forward.activations = replace(activations, fusions=activations.fusions + extra)
        values = take(method_values(replace(activations, fusions=extra), None), 0) if extra else {}
        self.maps = merge_maps(self.maps, values)
        return self.maps

    def close(self) -> None:
        """Frees the kept graph (also done by the last pending class)."""
        self._forward.release()

    def finish(self) -> dict[str, Any]:
        """Explains every pending class and returns `tensors()`."""
        while self.pending:
            self.add(self.pending[0])
        return self.tensors()

    def tensors(self) -> dict[str, Any]:
        """What is computed so far, as tensors and names only (picklable: it can come back from a
        GPU worker): {"probabilities", "maps", "classes"}."""
        return {"probabilities": self.probabilities, "maps": self.maps, "classes": dict(self.classes)}


def assemble(
    model: ViTHybridForImageClassification,
    tensors: dict[str, Any],
    pixel_values: torch.Tensor,
    geometry: CropGeometry,
    view: str,
    *,
    top_k: int = 5,
    discard: float = DISCARD,
) -> Explanation:
    """The `Explanation` of an image from its `Steps.tensors()`."""
    probabilities = tensors["probabilities"]
    top = probabilities.topk(max(1, min(top_k, model.config.num_labels)))
    return Explanation(
        predictions=[Prediction(i, model.config.id2label.get(i, str(i)), float(p))
                     for p, i in zip(top.values, top.indices.tolist())],
        grid=model.config.token_grid_for(*pixel_values.shape[-2:]),
        maps=tensors["maps"],
        classes={i: class_maps(model, probabilities, i, values) for i, values in tensors["classes"].items()},
        geometry=geometry,
        view=view,
        pixel_values=pixel_values,
        stages=model.config.stage_names,
        layers=model.config.num_hidden_layers,
        heads=model.config.num_attention_heads,
        discard=discard,
    )


def explain(
    model: ViTHybridForImageClassification,
    image: PIL.Image.Image | np.ndarray,
    processor: ViTHybridImageProcessor,
    *,
    top_k: int = 5,
    explained: int | None = None,
    view: str = "crop",
    max_tokens: int = MAX_TOKENS,
    fusions: tuple[str, ...] = FUSIONS,
    discard: float = DISCARD,
    autocast: torch.dtype | None = None,
) -> Explanation:
    """Predictions and every map for one image, from one forward pass.

    Parameter gradients are never computed; a model frozen with `model.requires_grad_(False)` also
    builds a smaller graph and reuses its standardised convolution weights (the app does this).

    Args:
        image: an RGB PIL image or (H, W, 3) uint8 array.
        top_k: how many predictions to keep.
        explained: how many of them get class-specific maps (gradient rollout, Grad-CAM,
            LayerCAM); all top_k by default, one activation-only backward each.
        view: "crop" (the processor's centre crop) or "whole" (the uncropped image, <= max_tokens).
        fusions, discard: the rollouts to compute (one per head fusion) and the fraction of
            weakest links they discard.
        autocast: a dtype to run the model in under torch.autocast (bfloat16 on a GPU); None, the
            default, is float32, the exact path.
    """
    pixel_values, geometry = model_input(image, processor, model.config, view, max_tokens)
    steps = Steps(model, pixel_values, top_k=top_k, explained=explained, fusions=fusions, discard=discard,
                  autocast=autocast)
    tensors = steps.finish()
    return assemble(model, tensors, pixel_values, geometry, view, top_k=top_k, discard=discard)


def check_class(model: ViTHybridForImageClassification, index: int) -> None:
    """ValueError unless `index` is one of the model's classes."""
    if not 0 <= index < model.config.num_labels:
        raise ValueError(f"class index must be in [0, {model.config.num_labels}), got {index}")


def explain_classes(
    model: ViTHybridForImageClassification,
    explanation: Explanation,
    indices: list[int],
    autocast: torch.dtype | None = None,
) -> Explanation:
    """The explanation with the maps of the classes `indices` added. Classes already explained
    cost nothing; the others need one more forward pass and a backward each (recorded in
    `extra_passes`), in `autocast`'s dtype when given."""
    for index in indices:
        check_class(model, index)
    missing = [i for i in dict.fromkeys(indices) if i not in explanation.classes]
    if not missing:
        return explanation
    forward = ForwardPass(model, explanation.pixel_values, True, (), explanation.discard, autocast)
    probabilities = forward.logits[0].float().softmax(-1).cpu()
    classes = dict(explanation.classes)
    for n, index in enumerate(missing):
        gradients = forward.gradients([index], retain=n < len(missing) - 1)
        classes[index] = class_maps(model, probabilities, index, take(method_values(forward.activations, gradients), 0))
    return replace(explanation, classes=classes, extra_passes=explanation.extra_passes + tuple(missing))


def explain_class(
    model: ViTHybridForImageClassification, explanation: Explanation, index: int, autocast: torch.dtype | None = None
) -> Explanation:
    """The explanation with the maps of class `index` added (`explain_classes` of one class)."""
    return explain_classes(model, explanation, [index], autocast)
