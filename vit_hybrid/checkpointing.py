"""Gradient checkpointing, as transformers' `gradient_checkpointing_enable` switches it on: the
modules that support it (the encoder's layers, the backbone's blocks) keep only their inputs in
training and run again during the backward pass, trading compute for activation memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class Checkpointing:
    """Mixed into a module whose children run through `run`; off until a model switches it on."""

    gradient_checkpointing: bool = False
    checkpoint_kwargs: ClassVar[dict[str, Any]] = {}

    def run(self, layer: Callable[..., Any], *args: Any) -> Any:
        """`layer(*args)`, checkpointed when switched on, training, and gradients are recorded."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(layer, *args, **self.checkpoint_kwargs)
        return layer(*args)


def set_checkpointing(model: nn.Module, enabled: bool, kwargs: dict[str, Any] | None = None) -> None:
    """Switches checkpointing on or off in every `Checkpointing` module of `model`. PyTorch's
    non-reentrant checkpoint is the default (transformers defaults to the reentrant one, which
    loses the gradients of a frozen backbone's successors)."""
    for module in model.modules():
        if isinstance(module, Checkpointing):
            module.gradient_checkpointing = enabled
            module.checkpoint_kwargs = {"use_reentrant": False, **(kwargs or {})}
