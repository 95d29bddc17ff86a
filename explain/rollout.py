"""Attention rollout (Abnar & Zuidema, 2020), raw attention (the class token's) and gradient rollout
(Chefer et al., 2021), as pure tensor functions.

Attentions are the model's post-softmax probabilities, one (B, heads, T, T) tensor per layer, token
0 being the class token. Maps come back on the token grid of the input they were computed for.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

FUSIONS = ("mean", "max", "min")
# Chosen by the evaluation of the bundled model (python -m scripts.evaluate, docs/benchmark.md): rollout with mean
# fusion discarding 90% of the weakest links localised best on the tuning seed.
DISCARD = 0.9


def fuse_heads(attention: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """Combines the heads of one layer's attention: (B, heads, T, T) -> (B, T, T)."""
    if fusion == "mean":
        return attention.mean(dim=1)
    if fusion == "max":
        return attention.amax(dim=1)
    if fusion == "min":
        return attention.amin(dim=1)
    raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")


def discard_weakest(attention: torch.Tensor, fraction: float) -> torch.Tensor:
    """Zeroes each sample's weakest links (B, T, T): those at or below the value of its
    int(T * T * fraction)-th weakest, never the class token's link to itself (entry [0, 0])."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"discard fraction must be in [0, 1), got {fraction}")
    batch, length, _ = attention.shape
    count = int(length * length * fraction)
    if count == 0:
        return attention
    flat = attention.reshape(batch, -1)
    if flat.device.type == "cpu":  # numpy's introselect is ~10x faster than torch.kthvalue on CPU
        values = flat.detach().float().numpy()
        threshold = torch.from_numpy(np.partition(values, count - 1, axis=1)[:, count - 1 : count].copy())
    else:
        threshold = flat.kthvalue(count, dim=1, keepdim=True).values.float()
    keep = flat.float() > threshold.to(flat.device)
    keep[:, 0] = True
    return (flat * keep).reshape(batch, length, length)


def residual_attention(attention: torch.Tensor, fusion: str = "mean", discard: float = 0.0) -> torch.Tensor:
    """One layer's rollout factor: fused heads, weakest links discarded, identity added for the
    residual path, rows renormalised to sum to 1. (B, heads, T, T) -> (B, T, T)."""
    mixed = discard_weakest(fuse_heads(attention, fusion), discard)  # always a new tensor
    mixed.diagonal(dim1=-2, dim2=-1).add_(1.0)  # (A + I) / 2, whose halves cancel in the renormalisation
    return mixed.div_(mixed.sum(dim=-1, keepdim=True))


def rollout(attentions: Sequence[torch.Tensor], fusion: str = "mean", discard: float = 0.0) -> torch.Tensor:
    """The full rollout matrix through all layers: A_L ... A_1 (B, T, T), each A_l a residual
    attention. Row 0 says how much each token flows into the class token."""
    joint = None
    for attention in attentions:
        factor = residual_attention(attention, fusion, discard)
        joint = factor if joint is None else factor @ joint
    return joint


def rollout_maps(
    attentions: Sequence[torch.Tensor], grid: tuple[int, int], fusion: str = "mean", discard: float = 0.0
) -> torch.Tensor:
    """The class token's rollout over the patches up to every layer: (L, B, h, w), entry l - 1
    being the rollout of layers 1..l.

    Computed as row-vector chains e0^T A_l ... A_1 (O(L^2 T^2)) instead of full matrix products
    (O(L T^3)); the values are those of `rollout(attentions[:l])[:, 0, 1:]`.
    """
    factors = [residual_attention(a, fusion, discard) for a in attentions]
    maps = []
    for upto in range(1, len(factors) + 1):
        row = factors[upto - 1][:, :1]  # (B, 1, T): e0^T A_l
        for factor in reversed(factors[: upto - 1]):
            row = row @ factor
        maps.append(row[:, 0, 1:])
    return torch.stack(maps).reshape(len(factors), -1, *grid)


def raw_attention(attention: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Raw attention of the class token to the patches, per head: (B, heads, T, T) -> (B, heads, h, w).
    Average over dim 1 for the head mean."""
    batch, heads = attention.shape[:2]
    return attention[:, :, 0, 1:].reshape(batch, heads, *grid)


def gradient_rollout(
    attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor], grid: tuple[int, int]
) -> torch.Tensor:
    """Gradient rollout (Chefer et al., 2021, "Generic Attention-model Explainability").

    Per layer, A_bar = mean over heads of (grad * A)^+; relevance R = I, then R <- R + A_bar R through
    the layers; the class token's row over the patches is the map. `gradients` are those of the
    class logit with respect to each layer's attention probabilities. Returns (B, h, w).
    """
    if len(attentions) == 0 or len(attentions) != len(gradients):
        raise ValueError("gradient_rollout needs one gradient per attention layer, and at least one layer")
    row = None
    for attention, gradient in zip(reversed(attentions), reversed(gradients)):
        mixed = (gradient * attention).relu_().mean(dim=1)  # (B, T, T); one temporary, not two
        if row is None:  # e0^T (I + A_L)
            row = mixed[:, :1].clone()
            row[:, 0, 0] += 1
        else:
            row = row + row @ mixed
    return row[:, 0, 1:].reshape(row.shape[0], *grid)
