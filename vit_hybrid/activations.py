"""Activation functions by the names config.json uses (transformers' ACT2FN subset)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(1.702 x), the approximation CLIP was trained with."""
    return x * torch.sigmoid(1.702 * x)


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact (erf) GELU, transformers' "gelu"
    "gelu_new": _gelu_tanh,  # the tanh approximation
    "gelu_pytorch_tanh": _gelu_tanh,
    "quick_gelu": quick_gelu,
    "relu": F.relu,
    "selu": F.selu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str, inplace: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """Returns the activation function called `name` in config.json.

    inplace=True gives ReLU's in-place form (its backward needs only its output, so autograd allows
    it); the others stay out of place. It saves a pass over the backbone's largest maps.
    """
    if inplace and name == "relu":
        return torch.relu_
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
