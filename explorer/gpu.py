"""Model work on ZeroGPU hardware: a Hugging Face Space whose GPU is lent per call.

ZeroGPU runs a function decorated with `spaces.GPU` in a forked worker that holds a GPU for the
call, and pickles its arguments and results across the fork; no GPU exists at start-up. So the
decorated function here is a plain one, tensors and names in, tensors and names out, and it reads
its model from `MODELS`, filled at start-up with every model the app serves (the worker inherits
them); nothing is compiled, and the model runs eagerly in bfloat16. A forked worker cannot keep a
graph between calls, so on ZeroGPU one call computes every map and the page shows them at once.
Elsewhere `spaces.GPU` returns the function unchanged and `ZERO_GPU` is false: nothing changes.
"""

from __future__ import annotations

from typing import Any

import spaces
import torch

from explain import Steps
from vit_hybrid import ViTHybridForImageClassification

ZERO_GPU = spaces.config.Config.zero_gpu  # SPACES_ZERO_GPU, which ZeroGPU hardware sets
MODELS: dict[str, ViTHybridForImageClassification] = {}  # name -> model, loaded at start-up on ZeroGPU


@spaces.GPU
def explain_on_gpu(model: str, pixel_values: torch.Tensor, top_k: int, fusions: tuple[str, ...],
                   discard: float) -> dict[str, Any]:
    """Every map of one model input, as `explain.explanation.Steps.tensors()` (on the CPU), from the
    model called `model`: bfloat16 autocast on a GPU, float32 without one."""
    network = MODELS[model]
    autocast = torch.bfloat16 if network.device.type == "cuda" else None
    return Steps(network, pixel_values, top_k=top_k, fusions=fusions, discard=discard, autocast=autocast).finish()
