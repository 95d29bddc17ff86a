"""One forward pass, every map: the `Explanation` a UI re-renders from without running the model.

`explain` runs the model once with attentions and the backbone's stage maps, then one
activation-only backward per explained class (gradients with respect to the stage maps and the
attention probabilities, never the parameters). Maps are float32 on their own grid (token grid or
stage grid), not normalised. `explain_class` adds a class outside the top k with one more pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import PIL.Image
import torch

from vit_hybrid import ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.geometry import CropGeometry

from .cam import gradcam, layercam
from .inputs import MAX_TOKENS, model_input
from .rollout import FUSIONS, class_attention, gradient_rollout, rollout_maps

# Chosen by the evaluation of the bundled model (scripts/evaluate.py, README): rollout with mean
# fusion discarding 90% of the weakest links localised best on the tuning seed, and Grad-CAM found
# the object far more often on stage 2 than on stage 3, the map that becomes the tokens.
DISCARD = 0.9
DEFAULT_STAGE = "stage2"


def default_stage(stages: tuple[str, ...]) -> str:
    """The stage to show Grad-CAM on first: DEFAULT_STAGE, or the one before the last."""
    return DEFAULT_STAGE if DEFAULT_STAGE in stages else stages[max(0, len(stages) - 2)]


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ClassMaps:
    """Class-specific maps of one class: Grad-CAM and LayerCAM per backbone stage (stage grid),
    and gradient-weighted attention rollout (token grid)."""

    index: int
    label: str
    probability: float
    gradcam: dict[str, torch.Tensor]
    layercam: dict[str, torch.Tensor]
    attention: torch.Tensor


@dataclass(frozen=True)
class Explanation:
    """Everything the maps of one image need, detached from any graph.

    Attributes:
        predictions: the top k classes, most probable first.
        grid: the token grid (h, w) of this input.
        attention: raw class-token attention to the patches, (layers, heads, h, w).
        rollout: head fusion ("mean", "max", "min") -> rollout up to each layer, (layers, h, w).
        discard: the fraction of weakest links the rollout discarded.
        classes: class index -> its `ClassMaps`, for the top k and any class added later.
        geometry: where the model input sits in the original image.
        view: "crop" or "whole".
        pixel_values: the model input (1, C, H, W), for faithfulness measures.
        extra_passes: classes computed by a later pass of `explain_class`.
    """

    predictions: list[Prediction]
    grid: tuple[int, int]
    attention: torch.Tensor
    rollout: dict[str, torch.Tensor]
    discard: float
    classes: dict[int, ClassMaps]
    geometry: CropGeometry
    view: str
    pixel_values: torch.Tensor
    stages: tuple[str, ...]
    extra_passes: tuple[int, ...] = field(default=())


def stage_names(config: ViTHybridConfig) -> tuple[str, ...]:
    """Names of the backbone stages that get class maps: all but the stem, up to the token map."""
    bit = config.backbone_config
    return tuple(bit.stage_names[1 : max(bit.out_indices) + 1])


def _forward_and_class_maps(
    model: ViTHybridForImageClassification,
    pixel_values: torch.Tensor,
    pick: Callable[[torch.Tensor], list[int]],
    need_gradients: bool = True,
) -> tuple[torch.Tensor, list[torch.Tensor], tuple[int, int], dict[int, tuple]]:
    """One forward with attentions and stage maps; one activation-only backward per picked class,
    on the model's device (maps come back on the CPU, attentions stay on the device).

    `pick(logits)` names the classes to explain (none without `need_gradients`, which builds no
    graph). Returns the logits (1, labels), the attentions, the token grid and, per class, its
    (gradcam, layercam, gradient rollout) maps.
    """
    stages = stage_names(model.config)
    bit = model.config.backbone_config
    # The input is the graph's root, so that gradients reach the activations whether or not the
    # parameters require grad; autograd.grad below asks for activations only, so no parameter's
    # gradient is computed or stored, and the graph is freed with `out` when this returns.
    x = pixel_values.detach().to(model.device, copy=True).requires_grad_(True)
    per_class: dict[int, tuple] = {}
    with torch.set_grad_enabled(need_gradients):
        out = model(x, output_attentions=True, output_backbone_states=True, interpolate_pos_encoding=True)
        maps = out.backbone_hidden_states[1 : len(stages) + 1]  # stage1 ... (the stem is left out)
        feature = out.backbone_hidden_states[bit.out_indices[-1]]  # the map that becomes the tokens
        grid = (feature.shape[-2] // model.config.patch_size, feature.shape[-1] // model.config.patch_size)
        targets = list(maps) + list(out.attentions)
        acts = [m.detach().float() for m in maps]  # maps are float32 whatever the model's dtype
        attentions = [a.detach().float() for a in out.attentions]
        classes = pick(out.logits.detach())
        for n, index in enumerate(classes):
            grads = torch.autograd.grad(out.logits[0, index], targets, retain_graph=n < len(classes) - 1)
            with torch.no_grad():
                stage_grads = [g.float() for g in grads[: len(maps)]]
                attention_grads = [g.float() for g in grads[len(maps) :]]
                per_class[index] = (
                    {s: gradcam(a, g)[0].cpu() for s, a, g in zip(stages, acts, stage_grads)},
                    {s: layercam(a, g)[0].cpu() for s, a, g in zip(stages, acts, stage_grads)},
                    gradient_rollout(attentions, attention_grads, grid)[0].cpu(),
                )
    return out.logits.detach().cpu(), attentions, grid, per_class


def _class_maps(model: ViTHybridForImageClassification, probabilities: torch.Tensor, index: int, maps: tuple) -> ClassMaps:
    label = model.config.id2label.get(index, str(index))
    return ClassMaps(index, label, float(probabilities[index]), *maps)


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
) -> Explanation:
    """Predictions and every map for one image, from one forward pass.

    Parameter gradients are never computed; a model frozen with `model.requires_grad_(False)` also
    builds a smaller graph and reuses its standardised convolution weights (the app does this).

    Args:
        image: an RGB PIL image or (H, W, 3) uint8 array.
        top_k: how many predictions to keep.
        explained: how many of them get class maps (Grad-CAM, LayerCAM, gradient rollout); all
            top_k by default, one activation-only backward each.
        view: "crop" (the processor's centre crop) or "whole" (the uncropped image, <= max_tokens).
        fusions, discard: the rollouts to compute (one per head fusion) and the fraction of
            weakest links they discard.
    """
    pixel_values, geometry = model_input(image, processor, model.config, view, max_tokens)
    top_k = max(1, min(top_k, model.config.num_labels))
    explained = top_k if explained is None else max(0, min(explained, top_k))

    def pick(logits: torch.Tensor) -> list[int]:
        return logits[0].topk(top_k).indices[:explained].tolist()

    logits, attentions, grid, per_class = _forward_and_class_maps(model, pixel_values, pick, explained > 0)
    probabilities = logits[0].float().softmax(-1)
    top = probabilities.topk(top_k)
    predictions = [
        Prediction(i, model.config.id2label.get(i, str(i)), float(p)) for p, i in zip(top.values, top.indices.tolist())
    ]
    with torch.no_grad():
        raw = torch.stack([class_attention(a, grid)[0] for a in attentions]).cpu()  # (layers, heads, h, w)
        rollouts = {f: rollout_maps(attentions, grid, f, discard)[:, 0].cpu() for f in fusions}
    return Explanation(
        predictions=predictions,
        grid=grid,
        attention=raw,
        rollout=rollouts,
        discard=discard,
        classes={i: _class_maps(model, probabilities, i, m) for i, m in per_class.items()},
        geometry=geometry,
        view=view,
        pixel_values=pixel_values,
        stages=stage_names(model.config),
    )


def explain_class(model: ViTHybridForImageClassification, explanation: Explanation, index: int) -> Explanation:
    """The explanation with the maps of class `index` added. A class already explained costs
    nothing; any other needs one more forward and backward pass (recorded in `extra_passes`)."""
    if not 0 <= index < model.config.num_labels:
        raise ValueError(f"class index must be in [0, {model.config.num_labels}), got {index}")
    if index in explanation.classes:
        return explanation
    logits, _, _, per_class = _forward_and_class_maps(model, explanation.pixel_values, lambda _: [index])
    probabilities = logits[0].float().softmax(-1)
    classes = {**explanation.classes, index: _class_maps(model, probabilities, index, per_class[index])}
    return replace(explanation, classes=classes, extra_passes=explanation.extra_passes + (index,))
