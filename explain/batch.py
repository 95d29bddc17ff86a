"""Many images through the model at once, each explained exactly as `explain` explains it alone.

Inputs are grouped by their exact size and never padded: padding would change the GroupNorm
statistics and give attention tokens that are not in the image. Each batch is one forward pass
and, for the class-specific maps, one backward: in eval mode the images of a batch do not
interact, so the gradient of the sum of each image's target logit is each image's own gradient
(`ForwardPass.gradients`). Every image explains one class, its target (the top prediction
unless given).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from vit_hybrid import ViTHybridForImageClassification
from vit_hybrid.geometry import CropGeometry

from .explanation import Explanation, assemble, check_class, method_values, take
from .passes import ForwardPass
from .rollout import DISCARD, FUSIONS

BATCH_SIZE = 16
ModelInput = tuple[torch.Tensor, CropGeometry]  # pixel values (1, C, H, W) and where they sit (`model_input`)


def same_size_batches(inputs: Sequence[ModelInput], batch_size: int = BATCH_SIZE) -> Iterator[list[int]]:
    """Positions of `inputs` in batches of at most `batch_size` whose pixel values have the same
    size, in order of first appearance."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for position, (pixel_values, _) in enumerate(inputs):
        groups[tuple(pixel_values.shape)].append(position)
    for positions in groups.values():
        for start in range(0, len(positions), batch_size):
            yield positions[start : start + batch_size]


def _explain_together(
    model: ViTHybridForImageClassification,
    inputs: Sequence[ModelInput],
    targets: Sequence[int | None],
    view: str,
    top_k: int,
    fusions: tuple[str, ...],
    discard: float,
    class_specific: bool,
) -> list[Explanation]:
    """One forward (and one backward) for inputs of one size."""
    forward = ForwardPass(model, torch.cat([p for p, _ in inputs]), class_specific, fusions, discard)
    probabilities = forward.logits.float().softmax(-1).cpu()  # (B, labels)
    top = probabilities.topk(top_k).indices[:, 0].tolist()
    chosen = [top[row] if t is None else t for row, t in enumerate(targets)]
    specific = method_values(forward.activations, forward.gradients(chosen, retain=False)) if class_specific else {}
    plain = method_values(forward.activations, None)
    return [
        assemble(model, {"probabilities": probabilities[row], "maps": take(plain, row),
                         "classes": {index: take(specific, row) if class_specific else {}}},
                 pixel_values, geometry, view, top_k=top_k, discard=discard)
        for row, ((pixel_values, geometry), index) in enumerate(zip(inputs, chosen))
    ]


def explain_batch(
    model: ViTHybridForImageClassification,
    inputs: Sequence[ModelInput],
    targets: Sequence[int | None] | None = None,
    *,
    view: str = "crop",
    top_k: int = 5,
    batch_size: int = BATCH_SIZE,
    fusions: tuple[str, ...] = FUSIONS,
    discard: float = DISCARD,
    class_specific: bool = True,
) -> list[Explanation]:
    """The explanation of every input, in the order given, equal to `explain`'s of each alone.

    Args:
        inputs: (pixel values (1, C, H, W), geometry) per image, as `explain.inputs.model_input`
            makes them (all in `view`).
        targets: per image, the class whose class-specific maps are computed; None (or no list)
            for its top prediction. Each explanation's `classes` holds that one class, with its
            probability.
        top_k: predictions kept per image.
        batch_size: images per forward pass (images of different sizes never share one).
        fusions, discard: as for `explain`.
        class_specific: False skips the backward: the target's `ClassMaps` hold no maps.
    """
    targets = [None] * len(inputs) if targets is None else list(targets)
    if len(targets) != len(inputs):
        raise ValueError(f"{len(targets)} targets for {len(inputs)} inputs")
    for target in targets:
        if target is not None:
            check_class(model, target)
    top_k = max(1, min(top_k, model.config.num_labels))
    results: list[Explanation | None] = [None] * len(inputs)
    for positions in same_size_batches(inputs, batch_size):
        explained = _explain_together(model, [inputs[p] for p in positions], [targets[p] for p in positions],
                                      view, top_k, fusions, discard, class_specific)
        for position, explanation in zip(positions, explained):
            results[position] = explanation
    return results
