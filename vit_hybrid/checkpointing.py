"""Gradient checkpointing, as transformers' `gradient_checkpointing_enable` switches it on: the
modules that support it (the encoder's layers, the backbone's blocks) keep only their inputs in
training and run again during the backward pass, trading compute for activation memory.

The two attributes have transformers' names (`gradient_checkpointing`, `_gradient_checkpointing_func`),
so that transformers' own switch (`vit_hybrid.transformers_compat`, `Trainer`) drives them too."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

# PyTorch's non-reentrant checkpoint (transformers 4 defaulted to the reentrant one, which loses
# the gradients of a frozen backbone's successors).
DEFAULT_CHECKPOINT = functools.partial(checkpoint, use_reentrant=False)


class Checkpointing:
    """Mixed into a module whose children run through `run`; off until a model switches it on."""

    gradient_checkpointing: bool = False
    _gradient_checkpointing_func: Callable[..., Any] = DEFAULT_CHECKPOINT

    def run(self, layer: Callable[..., Any], *args: Any) -> Any:
        """`layer(*args)`, checkpointed when switched on, training, and gradients are recorded."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return self._gradient_checkpointing_func(layer, *args)
        return layer(*args)


def set_checkpointing(model: nn.Module, enabled: bool, kwargs: dict[str, Any] | None = None) -> None:
    """Switches checkpointing on or off in every `Checkpointing` module of `model`; `kwargs` go to
    `torch.utils.checkpoint.checkpoint` (use_reentrant=False unless they say otherwise)."""
    function = functools.partial(checkpoint, **{"use_reentrant": False, **(kwargs or {})})
    for module in model.modules():
        if isinstance(module, Checkpointing):
            module.gradient_checkpointing = enabled
            module._gradient_checkpointing_func = function
