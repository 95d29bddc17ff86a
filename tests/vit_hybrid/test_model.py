"""Behaviour the reference lacks or gets wrong: interpolation, real attentions, clear errors, caches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import MODELS, reference_io
from vit_hybrid import ViTHybridForImageClassification, ViTHybridModel


def test_attentions_are_real_probabilities(model):
    x = reference_io("same_padding")["pixel_values"]
    with torch.no_grad():
        out = model(x, output_attentions=True)
    for probs in out.attentions:
        assert probs.shape == (2, 4, 17, 17)
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, 4, 17), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (50, 70), (96, 33), (17, 128)])
def test_token_grid_follows_the_input_size(model, height, width):
    """With "SAME" padding the backbone's stride-16 grid is ceil(H/16) x ceil(W/16)."""
    x = torch.randn(1, 3, height, width)
    with torch.no_grad():
        out = model(x, output_hidden_states=True, output_backbone_states=True, interpolate_pos_encoding=True)
    grid = (math.ceil(height / 16), math.ceil(width / 16))
    assert out.hidden_states[0].shape == (1, 1 + grid[0] * grid[1], 48)
    assert out.backbone_hidden_states[-1].shape[-2:] == grid
    assert [m.shape[1] for m in out.backbone_hidden_states] == [16, 32, 64, 96]


def test_position_interpolation_is_identity_at_the_native_size(model):
    ref = reference_io("same_padding")
    with torch.no_grad():
        out = model(ref["pixel_values"], interpolate_pos_encoding=True)
    torch.testing.assert_close(out.logits, ref["logits"], atol=1e-4, rtol=0)
    table = model.vit.embeddings.position_embeddings
    assert model.vit.embeddings.position_embeddings_for((4, 4)) is table


def test_position_table_is_resampled_bicubic_to_a_non_square_grid(model):
    """The embeddings for a 64x96 input are backbone tokens + the bicubic-resampled table."""
    emb = model.vit.embeddings
    x = torch.randn(1, 3, 64, 96)
    table = emb.position_embeddings
    patch = table[:, 1:].reshape(1, 4, 4, 48).permute(0, 3, 1, 2)
    resampled = F.interpolate(patch, size=(4, 6), mode="bicubic", align_corners=False)
    expected_pos = torch.cat((table[:, :1], resampled.permute(0, 2, 3, 1).reshape(1, 24, 48)), dim=1)
    with torch.no_grad():
        features = emb.patch_embeddings.backbone(x)[0][-1]
        tokens = emb.patch_embeddings.projection(features).flatten(2).transpose(1, 2)
        expected = torch.cat((emb.cls_token, tokens), dim=1) + expected_pos
        out = model(x, output_hidden_states=True, interpolate_pos_encoding=True)
    torch.testing.assert_close(out.hidden_states[0], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.hidden_states[0][:, 0], (emb.cls_token + table[:, 0])[:, 0], atol=1e-6, rtol=0)


def test_other_sizes_need_interpolate_pos_encoding(model):
    with pytest.raises(ValueError, match=r"Input image size \(64\*96\) doesn't match model \(64\*64\)"):
        model(torch.randn(1, 3, 64, 96))


def test_clear_errors_for_bad_inputs(model):
    with pytest.raises(ValueError, match="has 1 channel.*expects 3 channels"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="head_mask must have shape"):
        model(torch.randn(1, 3, 64, 64), head_mask=torch.ones(5))
    with pytest.raises(ValueError, match="You have to specify pixel_values"):
        model()


def test_bool_masked_pos_without_mask_token_is_a_clear_error():
    base = ViTHybridModel.from_pretrained(MODELS / "same_padding")
    with pytest.raises(ValueError, match="use_mask_token=True"):
        base(torch.randn(1, 3, 64, 64), bool_masked_pos=torch.zeros(1, 16, dtype=torch.bool))


def test_fused_and_explicit_attention_agree(model):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fused = model(x).logits
        explicit = model(x, output_attentions=True).logits
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=0)


def test_cached_weights_follow_parameter_updates(model):
    """The eval-mode cache of standardised conv weights sees in-place parameter changes."""
    m = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = m(x).logits
        m.vit.embeddings.patch_embeddings.backbone.bit.embedder.convolution.weight.mul_(-1.5).add_(0.1)
        m.vit.encoder.layer[0].attention.attention.key.weight.add_(0.3)
        after = m(x).logits
    fresh = ViTHybridForImageClassification(m.config).eval()
    fresh.load_state_dict(m.state_dict())
    with torch.no_grad():
        expected = fresh(x).logits
    assert (after - before).abs().max() > 1e-3
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=0)


def test_training_reaches_every_parameter():
    """In train mode gradients flow through weight standardisation to every parameter."""
    m = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding").train()
    out = m(torch.randn(2, 3, 64, 64), labels=torch.tensor([0, 3]))
    out.loss.backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []


def test_gradient_reaches_stage_maps_without_hooks(model):
    x = torch.randn(1, 3, 64, 64)
    out = model(x, output_backbone_states=True)
    stages = out.backbone_hidden_states
    grads = torch.autograd.grad(out.logits[0, 2], stages)
    assert all(g.shape == s.shape and g.abs().sum() > 0 for g, s in zip(grads, stages))


def test_class_token_only_gives_the_same_class_token():
    """The classifier's shortcut (last layer for the class token alone) changes no value."""
    base = ViTHybridModel.from_pretrained(MODELS / "masked_base")
    x = torch.randn(2, 3, 64, 64)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.5])
    with torch.no_grad():
        full = base(x, head_mask=mask)
        short = base(x, head_mask=mask, class_token_only=True)
        asked = base(x, class_token_only=True, output_hidden_states=True)
    assert short.last_hidden_state.shape == (2, 1, 48)
    torch.testing.assert_close(short.last_hidden_state, full.last_hidden_state[:, :1], atol=1e-6, rtol=0)
    torch.testing.assert_close(short.pooler_output, full.pooler_output, atol=1e-6, rtol=0)
    assert asked.last_hidden_state.shape == (2, 17, 48)  # ignored when hidden states are asked for


def test_cached_weights_follow_dtype_and_device_moves():
    """`.to()` swaps a parameter's data without a new version: the cache must notice."""
    m = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        single = m(x).logits
        double = m.double()(x.double()).logits
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single, atol=1e-5, rtol=0)


def test_a_head_mask_over_query_rows_works_for_the_classifier(model):
    """A full (layers, B, heads, T, T) mask needs every row of the last layer, not the class token's."""
    x = torch.randn(2, 3, 64, 64)
    mask = torch.rand(3, 2, 4, 17, 17, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = model(x, head_mask=mask).logits
        explicit = model(x, head_mask=mask, output_attentions=True).logits
    torch.testing.assert_close(fast, explicit, atol=1e-6, rtol=0)


def test_a_grid_that_does_not_match_the_position_table_needs_interpolation():
    config = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding").config
    config.image_size = 48  # 3x3 tokens, but the table is 4x4
    m = ViTHybridForImageClassification(config).eval()
    with pytest.raises(ValueError, match=r"3x3 token grid but the position table is 4x4"):
        m(torch.randn(1, 3, 48, 48))
    assert m(torch.randn(1, 3, 48, 48), interpolate_pos_encoding=True).logits.shape == (1, 5)
