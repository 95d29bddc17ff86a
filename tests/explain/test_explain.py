"""The one-pass Explanation: what it holds, that it is deterministic, finite, bounded, and clean."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from explain import explain, explain_class, rollout_maps
from explain.draw.export import explanation_record
from tests.helpers import MODELS, load_photo
from vit_hybrid import ViTHybridForImageClassification


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_photo("coffee.jpg")


def all_tensors(explanation) -> list[torch.Tensor]:
    tensors = [explanation.raw_attention, explanation.pixel_values, *explanation.rollout.values()]
    for maps in explanation.classes.values():
        tensors += [maps.gradient_rollout, *maps.gradcam.values(), *maps.layercam.values()]
    return tensors


def test_explanation_holds_every_map_on_its_own_grid(model, processor, photo):
    e = explain(model, photo, processor)
    assert [p.index for p in e.predictions] == model(e.pixel_values).logits[0].topk(5).indices.tolist()
    assert sum(p.probability for p in e.predictions) == pytest.approx(1.0, abs=1e-5)  # 5 labels in all
    assert e.grid == (4, 4) and e.stages == ("stage1", "stage2", "stage3")
    assert e.raw_attention.shape == (3, 4, 4, 4)  # layers, heads, grid
    assert set(e.rollout) == {"mean", "max", "min"} and e.rollout["mean"].shape == (3, 4, 4)
    assert set(e.classes) == {p.index for p in e.predictions}
    maps = e.classes[e.predictions[0].index]
    assert {s: tuple(m.shape) for s, m in maps.gradcam.items()} == {"stage1": (16, 16), "stage2": (8, 8), "stage3": (4, 4)}
    assert maps.gradient_rollout.shape == (4, 4) and maps.label == model.config.id2label[maps.index]
    assert all(t.dtype == torch.float32 for t in all_tensors(e))


def test_rollout_in_the_explanation_is_that_of_the_model_attentions(model, processor, photo):
    e = explain(model, photo, processor)
    with torch.no_grad():
        attentions = model(e.pixel_values, output_attentions=True).attentions
    torch.testing.assert_close(e.rollout["max"], rollout_maps(attentions, (4, 4), "max", e.discard)[:, 0], atol=1e-6, rtol=0)


def test_same_input_gives_identical_maps(model, processor, photo):
    first, second = explain(model, photo, processor), explain(model, photo, processor)
    for a, b in zip(all_tensors(first), all_tensors(second)):
        assert torch.equal(a, b)


def test_constant_image_gives_finite_maps(model, processor):
    e = explain(model, np.full((50, 70, 3), 128, dtype=np.uint8), processor)
    assert all(torch.isfinite(t).all() for t in all_tensors(e))


def test_whole_view_of_a_10000x8_strip_stays_within_the_token_cap(model, processor):
    strip = np.random.default_rng(0).integers(0, 256, (8, 10000, 3), dtype=np.uint8)
    e = explain(model, strip, processor, view="whole", max_tokens=1024)
    h, w = e.grid
    assert h * w <= 1024 and w > 100 * h  # the strip's shape is kept, scaled down to fit
    assert e.geometry.original_box == (0.0, 0.0, 10000.0, 8.0)
    assert all(torch.isfinite(t).all() for t in all_tensors(e))


def test_whole_view_keeps_the_aspect_at_the_training_size(model, processor, photo):
    e = explain(model, photo, processor, view="whole")
    height, width = photo.shape[:2]
    assert e.pixel_values.shape[-2] == 64 and e.pixel_values.shape[-1] == round(64 * width / height)
    assert e.grid == (4, math.ceil(e.pixel_values.shape[-1] / 16))


def test_a_class_outside_the_top_k_takes_one_more_pass(model, processor, photo):
    short = explain(model, photo, processor, top_k=2)
    full = explain(model, photo, processor, top_k=5)
    last = full.predictions[-1].index
    assert last not in short.classes
    added = explain_class(model, short, last)
    assert added.extra_passes == (last,) and short.extra_passes == ()
    for stage in full.stages:
        torch.testing.assert_close(added.classes[last].gradcam[stage], full.classes[last].gradcam[stage], atol=1e-6, rtol=0)
    torch.testing.assert_close(added.classes[last].gradient_rollout, full.classes[last].gradient_rollout, atol=1e-6, rtol=0)
    assert explain_class(model, added, last) is added  # nothing to compute twice
    with pytest.raises(ValueError, match=r"class index must be in \[0, 5\)"):
        explain_class(model, short, 7)


def test_json_export_is_complete_and_valid(model, processor, photo):
    record = json.loads(json.dumps(explanation_record(explain(model, photo, processor, top_k=2))))
    assert [p["label"] for p in record["predictions"]] and record["view"] == "crop"
    methods = {m["method"] for m in record["maps"]}
    assert methods == {"rollout", "raw_attention", "gradient_rollout", "gradcam", "layercam"}
    gradcam = next(m for m in record["maps"] if m["method"] == "gradcam" and m["stage"] == "stage2")
    assert gradcam["grid"] == [8, 8] and len(gradcam["values"]) == 8 and "class_label" in gradcam


def resident_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_fifty_explanations_leave_no_hooks_no_graphs_and_no_growth(processor, photo):
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    flags = [p.requires_grad for p in model.parameters()]
    levels = []
    for n in range(50):
        e = explain(model, photo, processor)
        assert all(t.grad_fn is None and not t.requires_grad for t in all_tensors(e))
        if n in (9, 49):
            levels.append(resident_mb())
    hooks = [m for m in model.modules() if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks]
    assert hooks == []
    assert all(p.grad is None for p in model.parameters())  # no parameter gradient was computed
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training
    assert levels[1] - levels[0] < 20, levels


def test_default_stage_is_the_evaluated_one():
    from explain import default_stage

    assert default_stage(("stage1", "stage2", "stage3")) == "stage2"
    assert default_stage(("stage1",)) == "stage1"
    assert default_stage(("stage1", "stage2b", "stage3")) == "stage2b"


def test_arrays_are_read_as_height_width_channels_even_when_three_rows_high(model, processor):
    strip = np.random.default_rng(1).integers(0, 256, (3, 200, 3), dtype=np.uint8)
    e = explain(model, strip, processor, view="whole")
    assert e.geometry.original_size == (3, 200)
    assert e.pixel_values.shape[-1] > 10 * e.pixel_values.shape[-2]  # wide, as the strip is


def test_token_stride_comes_from_the_backbone():
    from vit_hybrid import ViTHybridConfig

    assert ViTHybridConfig().token_stride == 16  # image_size 224 and a 24x24 table: still stride 16
    assert ViTHybridConfig(patch_size=2, backbone_featmap_shape=[1, 1024, 12, 12]).token_stride == 32
