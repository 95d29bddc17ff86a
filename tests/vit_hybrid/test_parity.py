"""Our model against the reference (transformers 4.46.3) on its own saved random-weight checkpoints.

Fixtures come from tests/fixtures/make_model_fixtures.py, run in the reference virtualenv.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import MODELS, reference_io
from vit_hybrid import ViTHybridForImageClassification, ViTHybridModel

ATOL = 1e-4


def close(ours: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    err = (ours - ref).abs().max().item()
    assert err <= ATOL, f"{name}: max abs difference {err:.3g}"


def check_outputs(outputs, ref: dict[str, torch.Tensor], prefix: str = "") -> int:
    """Compares every recorded field under `prefix`; returns how many tensors were compared."""
    checked = 0
    for key, expected in ref.items():
        if not key.startswith(prefix) or "." in key[len(prefix) :].replace("hidden_states.", "").replace("attentions.", ""):
            continue
        field = key[len(prefix) :]
        if field in ("pixel_values", "labels", "bool_masked_pos") or field.startswith("head_mask"):
            continue
        name, _, index = field.partition(".")
        value = getattr(outputs, name)
        close(value[int(index)] if index else value, expected, key)
        checked += 1
    return checked


@pytest.mark.parametrize("case", ["same_padding", "pytorch_padding"])
def test_classifier_matches_reference(case):
    ref = reference_io(case)
    model = ViTHybridForImageClassification.from_pretrained(MODELS / case)
    with torch.no_grad():
        out = model(ref["pixel_values"], output_attentions=True, output_hidden_states=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert len(out.attentions) == model.config.num_hidden_layers
    assert check_outputs(out, ref) == 1 + 2 * model.config.num_hidden_layers + 1


@pytest.mark.parametrize("case", ["same_padding", "pytorch_padding"])
@pytest.mark.parametrize("shape", ["1d", "2d"])
@pytest.mark.parametrize("output_attentions", [True, False])
def test_head_mask_matches_reference(case, shape, output_attentions):
    """head_mask multiplies the probabilities on the explicit and on the fused path alike."""
    ref = reference_io(case)
    model = ViTHybridForImageClassification.from_pretrained(MODELS / case)
    with torch.no_grad():
        out = model(ref["pixel_values"], head_mask=ref[f"head_mask_{shape}"], output_attentions=output_attentions)
    close(out.logits, ref[f"head_mask_{shape}.logits"], "logits")
    if output_attentions:
        assert check_outputs(out, ref, f"head_mask_{shape}.") == 1 + model.config.num_hidden_layers


def test_fused_path_matches_reference_logits():
    ref = reference_io("same_padding")
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    with torch.no_grad():
        out = model(ref["pixel_values"])
    assert out.attentions is None and out.hidden_states is None
    close(out.logits, ref["logits"], "logits")


def test_masked_base_model_matches_reference():
    ref = reference_io("masked_base")
    model = ViTHybridModel.from_pretrained(MODELS / "masked_base", use_mask_token=True)
    with torch.no_grad():
        masked = model(ref["pixel_values"], bool_masked_pos=ref["bool_masked_pos"], output_attentions=True, output_hidden_states=True)
        plain = model(ref["pixel_values"], output_hidden_states=True)
    assert check_outputs(masked, ref) >= 2 + 4 + 3
    assert check_outputs(plain, ref, "unmasked.") == 2 + 4
    assert (masked.last_hidden_state - plain.last_hidden_state).abs().max() > 1e-3  # the mask did something


@pytest.mark.parametrize("case", ["same_padding", "pytorch_padding"])
@pytest.mark.parametrize("kind", ["loss_index", "loss_multihot"])
def test_classification_losses_match_reference(case, kind):
    ref = reference_io(case)
    model = ViTHybridForImageClassification.from_pretrained(MODELS / case)
    with torch.no_grad():
        out = model(ref["pixel_values"], labels=ref[f"{kind}.labels"])
    close(out.loss, ref[f"{kind}.loss"], kind)


def test_regression_loss_matches_reference():
    ref = reference_io("regression")
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "regression")
    with torch.no_grad():
        out = model(ref["pixel_values"], labels=ref["labels"])
    close(out.logits, ref["logits"], "logits")
    close(out.loss, ref["loss"], "loss")


def test_return_dict_false_gives_the_reference_tuple():
    ref = reference_io("same_padding")
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    with torch.no_grad():
        loss, logits, hidden, attentions = model(
            ref["pixel_values"], labels=ref["loss_index.labels"], output_attentions=True,
            output_hidden_states=True, return_dict=False,
        )
    close(loss, ref["loss_index.loss"], "loss")
    close(logits, ref["logits"], "logits")
    close(hidden[-1], ref[f"hidden_states.{len(hidden) - 1}"], "hidden")
    close(attentions[0], ref["attentions.0"], "attentions")
