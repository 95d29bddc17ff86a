"""Grad-CAM (Selvaraju et al., 2017) and LayerCAM (Jiang et al., 2021) from a stage's activations
and the gradients of a class logit with respect to them. Pure tensor functions, batch-aware."""

from __future__ import annotations

import torch


def gradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """ReLU of the channel sum of activations weighted by their spatially averaged gradients.

    Args:
        activations, gradients: (B, C, h, w), a backbone stage's map and d logit / d map.
    Returns:
        (B, h, w), zero where no channel gives positive evidence.
    """
    weights = gradients.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    return (weights * activations).sum(dim=1).clamp(min=0)


def layercam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """ReLU of the channel sum of activations weighted element-wise by their positive gradients.

    Finer than Grad-CAM where the network downstream mixes positions globally (as attention does).
    Shapes as for `gradcam`.
    """
    return (gradients.clamp(min=0) * activations).sum(dim=1).clamp(min=0)
