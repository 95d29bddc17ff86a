"""torch.compile applied per segment, so that explanations keep their gradients.

A graph compiled from the whole model hides its intermediates: autograd can only differentiate
with respect to a graph's inputs and outputs, and the backbone's stage maps and the attention
probabilities are intermediates of the whole. So each piece is compiled on its own, and every
tensor an explanation differentiates by lies on a boundary between two compiled graphs: the stem,
each backbone stage (its output is a stage map), and each encoder layer in two halves split at its
attention probabilities (`ViTHybridLayer.attend` and `.finish`). With mode="reduce-overhead" each
piece is replayed as a CUDA graph. Inputs of a new size compile again: use it for fixed-size inputs
(the crop view); whole images of varying sizes may stay eager.
"""

from __future__ import annotations

import torch

from .modeling import ViTHybridForImageClassification, ViTHybridModel


def compile_segments(
    model: ViTHybridForImageClassification | ViTHybridModel, mode: str | None = None, backend: str = "inductor"
) -> ViTHybridForImageClassification | ViTHybridModel:
    """Compiles `model`'s segments in place (and returns it). The first call of each input size
    pays the compile time."""
    vit = model.vit if isinstance(model, ViTHybridForImageClassification) else model
    bit = vit.embeddings.patch_embeddings.backbone.bit
    options = {"mode": mode, "backend": backend, "dynamic": False}
    # Every layer compiles the same two functions for its own weights: one graph each, not a recompile
    # to give up on after dynamo's default limit of 8.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 4 * len(vit.encoder.layer))
    # Explanations run several backwards from one forward (retain_graph); buffers donated to the
    # first backward would be gone for the next.
    torch._functorch.config.donated_buffer = False
    for module in (bit.embedder, *bit.encoder.stages):
        module.compile(**options)
    for layer in vit.encoder.layer:
        layer.attend = torch.compile(layer.attend, **options)
        layer.finish = torch.compile(layer.finish, **options)
    return model
