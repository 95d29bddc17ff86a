"""Grad-CAM against Captum's LayerGradCam, LayerCAM against a direct computation, and both on a
model whose evidence lies in one known region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from torch import nn

from explain import explain, gradcam, layercam
from tests.helpers import load_photo
from vit_hybrid import BitConfig
from vit_hybrid.backbone import BitBackbone


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_photo("chelsea.png")


def test_gradcam_matches_captum_for_every_stage_and_top5_class(model, processor, photo):
    explanation = explain(model, photo, processor, top_k=5)
    x = explanation.pixel_values
    stages = model.vit.embeddings.patch_embeddings.backbone.bit.encoder.stages
    checked = 0
    for prediction in explanation.predictions:
        for number, stage in enumerate(explanation.stages):
            cam = LayerGradCam(lambda inputs: model(inputs, interpolate_pos_encoding=True).logits, stages[number])
            expected = cam.attribute(x, target=prediction.index, relu_attributions=True)[0, 0]
            ours = explanation.classes[prediction.index].gradcam[stage]
            assert ours.shape == expected.shape
            assert expected.abs().max() > 0  # a real comparison, not two empty maps
            torch.testing.assert_close(ours, expected.detach(), atol=1e-5, rtol=0)
            checked += 1
    assert checked == 5 * 3


def test_layercam_matches_a_direct_computation(model, processor, photo):
    explanation = explain(model, photo, processor, top_k=3)
    x = explanation.pixel_values.clone().requires_grad_(True)
    out = model(x, output_backbone_states=True, interpolate_pos_encoding=True)
    for prediction in explanation.predictions:
        stage_maps = out.backbone_hidden_states[1:4]
        grads = torch.autograd.grad(out.logits[0, prediction.index], stage_maps, retain_graph=True)
        for stage, acts, grad in zip(explanation.stages, stage_maps, grads):
            expected = torch.relu((torch.relu(grad) * acts).sum(dim=1))[0]
            torch.testing.assert_close(explanation.classes[prediction.index].layercam[stage], expected.detach(), atol=1e-6, rtol=0)


class RegionModel(nn.Module):
    """A real BiT backbone whose class logits read stage 3 inside one known box only, with positive
    weights (every class is evidence of the same features)."""

    def __init__(self, box: tuple[int, int, int, int]) -> None:
        super().__init__()
        config = BitConfig(layer_type="bottleneck", global_padding="same", depths=[1, 1, 1], hidden_sizes=[32, 64, 96],
                           embedding_size=16, num_groups=4, embedding_dynamic_padding=True)
        self.backbone = BitBackbone(config).eval()
        self.head = nn.Linear(96, 3)
        with torch.no_grad():
            self.head.weight.abs_()
        self.box = box

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        _, maps = self.backbone(x)
        top, left, bottom, right = self.box
        region = maps[-1][:, :, top:bottom, left:right].mean(dim=(2, 3))
        return self.head(region), maps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maxima_fall_inside_the_only_region_with_evidence(seed):
    """The logits read stage-3 cells (rows 1-2, columns 4-6 of 8x8); the image has its texture
    (the features those weights favour) there, and faint noise elsewhere."""
    torch.manual_seed(seed)
    model = RegionModel(box=(1, 4, 3, 7))
    texture = torch.full((1, 1, 128, 128), 0.2)
    texture[..., 16:48, 64:112] = 3.0  # the box in pixels (stride 16)
    x = torch.randn(1, 3, 128, 128) * texture
    logits, maps = model(x)
    for cls in range(3):
        grads = torch.autograd.grad(logits[0, cls], maps[-1], retain_graph=True)[0]
        for method in (gradcam, layercam):
            cam = method(maps[-1], grads)[0]
            row, col = divmod(int(cam.flatten().argmax()), cam.shape[1])
            assert 1 <= row < 3 and 4 <= col < 7, (cls, method.__name__, row, col)
        outside = layercam(maps[-1], grads)[0].clone()
        outside[1:3, 4:7] = 0
        assert outside.abs().max() == 0  # LayerCAM is exactly zero where the logit does not look


def test_zero_gradients_and_negative_evidence_give_finite_zero_maps():
    acts = torch.rand(2, 8, 5, 6)
    for method in (gradcam, layercam):
        assert torch.equal(method(acts, torch.zeros_like(acts)), torch.zeros(2, 5, 6))
        assert torch.equal(method(acts, -torch.rand_like(acts)), torch.zeros(2, 5, 6))
