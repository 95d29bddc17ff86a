"""One forward pass with its graph kept, and activation-only backwards from it: the work every map
is made of.

The input is the graph's root, so that gradients reach the activations whether or not the
parameters require grad; backwards ask for activations only, so no parameter's gradient is ever
computed or stored, and the graph is freed with the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from vit_hybrid import ViTHybridForImageClassification

from .rollout import DISCARD, FUSIONS


@dataclass(frozen=True)
class Activations:
    """What one forward pass gives the maps: detached, float32, batch first.

    Attributes:
        stages: backbone stage name -> its map (B, C, h, w), for the stages that get maps.
        attentions: one (B, heads, T, T) per encoder layer, post-softmax, token 0 the class token.
        grid: the token grid (h, w) of this input.
        fusions, discard: the head fusions rollout is computed for, and the weakest links it drops.
    """

    stages: dict[str, torch.Tensor]
    attentions: list[torch.Tensor]
    grid: tuple[int, int]
    fusions: tuple[str, ...] = FUSIONS
    discard: float = DISCARD


@dataclass(frozen=True)
class Gradients:
    """d (one class logit per image) / d activations: float32, batch first, keyed like `Activations`
    (the stages may be fewer: only those the backward reached)."""

    stages: dict[str, torch.Tensor]
    attentions: list[torch.Tensor]


def _maps_dtype(values: torch.Tensor) -> torch.Tensor:
    """float32 for the maps whatever the model's dtype, but float64 kept (so that a float64 model
    gives float64 maps)."""
    return values if values.dtype == torch.float64 else values.float()


class ForwardPass:
    """The model run once on a batch with attentions and backbone stage maps.

    `autocast` runs the pass (and its backwards) under torch.autocast in that dtype (bfloat16 on
    a GPU); the maps are float32 either way.

    Attributes:
        logits: (B, labels), detached, on the model's device.
        activations: what the maps are computed from (`Activations`), on the model's device.
    """

    def __init__(
        self,
        model: ViTHybridForImageClassification,
        pixel_values: torch.Tensor,
        need_gradients: bool = True,
        fusions: tuple[str, ...] = FUSIONS,
        discard: float = DISCARD,
        autocast: torch.dtype | None = None,
    ) -> None:
        stages = model.config.stage_names
        x = pixel_values.detach().to(model.device, copy=True).requires_grad_(need_gradients)
        self._autocast = autocast
        with torch.set_grad_enabled(need_gradients), self._precision(model.device):
            out = model(x, output_attentions=True, output_backbone_states=True, interpolate_pos_encoding=True)
        maps = out.backbone_hidden_states[1 : len(stages) + 1]  # stage1 ... (the stem is left out)
        grid = model.config.token_grid_for(*pixel_values.shape[-2:])
        self._graph = (out.logits, dict(zip(stages, maps)), out.attentions) if need_gradients else None
        self.logits = out.logits.detach()
        self.activations = Activations(
            stages={s: _maps_dtype(m.detach()) for s, m in zip(stages, maps)},
            attentions=[_maps_dtype(a.detach()) for a in out.attentions],
            grid=grid,
            fusions=fusions,
            discard=discard,
        )

    def _precision(self, device: torch.device):
        """bfloat16 (or another dtype) autocast when asked; float32, the exact path, by default."""
        return torch.autocast(device.type, dtype=self._autocast, enabled=self._autocast is not None)

    def gradients(self, indices: Sequence[int], retain: bool = True, stages: Sequence[str] | None = None) -> Gradients:
        """The gradients of logit `indices[b]` of every image b with respect to the stage maps
        (all, or `stages`) and the attention probabilities, from one backward: images are
        independent in eval mode, so the gradient of the sum of each row's target logit is each
        image's own. `retain=False` frees the graph (no later backward)."""
        if self._graph is None:
            raise RuntimeError("this pass was run without gradients")
        logits, maps, attentions = self._graph
        names = list(maps) if stages is None else list(stages)
        index = torch.as_tensor(list(indices), device=logits.device)
        target = logits.gather(1, index[:, None]).sum()
        with self._precision(logits.device):
            grads = torch.autograd.grad(target, [maps[s] for s in names] + list(attentions), retain_graph=retain)
        if not retain:
            self.release()
        return Gradients(
            stages={s: _maps_dtype(g) for s, g in zip(names, grads)},
            attentions=[_maps_dtype(g) for g in grads[len(names) :]],
        )

    def release(self) -> None:
        """Frees the graph: no backward after this."""
        self._graph = None


def graph_bytes(model: ViTHybridForImageClassification, pixel_values: torch.Tensor) -> int:
    """The bytes that a kept `ForwardPass` of `pixel_values` holds in its graph: what autograd saves
    for the backward that depends on the input (activations, attention probabilities), not the
    model's own weights, which every pass shares. Measured by running the pass once."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.requires_grad:  # downstream of the input; frozen weights and constants are not
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        ForwardPass(model, pixel_values).release()
    return sum(storages.values())
