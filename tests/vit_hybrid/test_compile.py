"""Per-segment compilation keeps every map: gradients with respect to the stage maps and the
attention probabilities come out of the compiled pieces (compiled here with AOTAutograd's eager
backend, the part of torch.compile that decides what autograd can reach), equal to eager ones."""

from __future__ import annotations

import torch

from explain import explain
from tests.helpers import MODELS, load_photo
from vit_hybrid import ViTHybridForImageClassification
from vit_hybrid.compile import compile_segments


def test_compiled_segments_give_the_eager_maps_for_one_class_then_several(processor):
    """The first backward compiles the backward graphs: one class (no graph kept), then several
    (the graph kept between them) must both work, so no buffer may be donated to the first."""
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding").requires_grad_(False)
    photo = load_photo("coffee.jpg")
    eager = explain(model, photo, processor, top_k=2)
    compile_segments(model, backend="aot_eager")
    explain(model, photo, processor, top_k=2, explained=1)
    compiled = explain(model, photo, processor, top_k=2)
    assert [p.index for p in compiled.predictions] == [p.index for p in eager.predictions]
    torch.testing.assert_close(compiled.raw_attention, eager.raw_attention, atol=1e-6, rtol=0)
    for index, maps in eager.classes.items():
        assert maps.gradient_rollout.abs().max() > 0
        torch.testing.assert_close(compiled.classes[index].gradient_rollout, maps.gradient_rollout, atol=1e-6, rtol=0)
        for stage in eager.stages:
            torch.testing.assert_close(compiled.classes[index].gradcam[stage], maps.gradcam[stage], atol=1e-6, rtol=0)
            torch.testing.assert_close(compiled.classes[index].layercam[stage], maps.layercam[stage], atol=1e-6, rtol=0)
