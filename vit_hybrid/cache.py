"""A cache for tensors derived from parameters (the standardised weights of the BiT convolutions).

In eval mode, with no gradient needed for the parameters, a derived weight is computed once and
reused until one of its parameters changes (PyTorch bumps a tensor's `_version` on every in-place
update: optimiser steps, `load_state_dict`). Edits through `.data` bypass that counter, so calling
`.train()` or `.eval()` also empties the cache. While training, or whenever autograd must reach the
parameters, the weight is recomputed every call so gradients flow as in the reference.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class DerivedWeights(nn.Module):
    """Mixin for modules that compute a weight from their parameters on every forward."""

    def train(self, mode: bool = True) -> "DerivedWeights":
        self.__dict__["_derived"] = {}
        return super().train(mode)

    def derived(self, name: str, params: Sequence[torch.Tensor], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Returns `compute()`, cached under `name` when no gradient has to reach `params`."""
        if self.training or (torch.is_grad_enabled() and any(p.requires_grad for p in params)):
            return compute()
        cache = self.__dict__.setdefault("_derived", {})
        # Identity, version, storage, dtype and device: replacing a parameter, updating it in place
        # or moving it (`.to()`, `.half()` swap its data without a new version) misses the cache.
        # The entry holds the parameters, so their ids cannot be reused while it lives.
        key = (
            tuple((id(p), p._version, p.data_ptr(), p.dtype, p.device) for p in params),
            torch.is_inference_mode_enabled(),
        )
        entry = cache.get(name)
        if entry is None or entry[0] != key:
            with torch.no_grad():
                entry = (key, tuple(params), compute())
            cache[name] = entry
        return entry[2]
