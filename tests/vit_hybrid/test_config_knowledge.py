"""What the config and the processor answer about their own model: stage names, token stride and
grid for any input size, the Hub architecture, and the crop geometry the processor used."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import FIXTURES, MODELS
from vit_hybrid import ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.config import hub_architecture


@pytest.mark.parametrize("case", ["same_padding", "pytorch_padding", "regression"])
def test_the_token_grid_for_an_input_size_is_the_models_own(case):
    model = ViTHybridForImageClassification.from_pretrained(MODELS / case)
    config = model.config
    for height, width in [(64, 64), (63, 97), (17, 150), (129, 33), (1, 1)]:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, height, width), output_attentions=True, output_backbone_states=True,
                        interpolate_pos_encoding=True)
        tokens = out.attentions[0].shape[-1] - 1
        grid = config.token_grid_for(height, width)
        assert grid[0] * grid[1] == tokens, (case, height, width)
        feature = out.backbone_hidden_states[config.backbone_config.out_indices[-1]]
        assert grid == (feature.shape[-2] // config.patch_size, feature.shape[-1] // config.patch_size)
        stages = out.backbone_hidden_states[1 : len(config.stage_names) + 1]
        assert len(stages) == len(config.stage_names) and stages[-1] is feature


def test_stage_names_and_stride_of_the_hub_architecture():
    config = hub_architecture()
    assert config.stage_names == ("stage1", "stage2", "stage3")
    assert config.token_stride == 16 and config.token_grid_for(384, 384) == config.token_grid == (24, 24)
    assert config.token_grid_for(384, 500) == (24, 32)


def test_hub_architecture_is_the_recorded_one():
    recorded = json.loads((FIXTURES / "hub_architecture.json").read_text())
    with torch.device("meta"):
        model = ViTHybridForImageClassification(hub_architecture())
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == recorded["shapes"]["ViTHybridForImageClassification"]
    assert hub_architecture().image_size == ViTHybridConfig.from_dict(recorded["config"]).image_size == 384


def test_the_processor_hands_back_the_geometry_it_used_only_when_asked():
    processor = ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64, image_mean=0.5, image_std=0.5)
    images = [np.zeros((100, 160, 3), np.uint8), np.zeros((90, 30, 3), np.uint8)]
    plain = processor(images, return_tensors="pt")
    assert list(plain) == ["pixel_values"]  # what model(**processor(...)) takes
    both = processor(images, return_tensors="pt", return_geometry=True)
    assert torch.equal(both["pixel_values"], plain["pixel_values"])
    assert both["geometry"] == [processor.crop_geometry((100, 160)), processor.crop_geometry((90, 30))]
    # 100x160 -> 64x102 (the long side truncated), crop columns 19..83 of 102, in original pixels:
    assert both["geometry"][0].original_box == (19 * 160 / 102, 0.0, 83 * 160 / 102, 100.0)
