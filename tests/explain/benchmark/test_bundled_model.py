"""The bundled model: small, offline, accurate on fresh scenes, read identically by the reference."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from explain import explain
from explain.benchmark.scenes import CLASSES, TEST_SEED, make_batch, make_scene, region
from explain.benchmark.training import scene_config, to_pixels
from explain.measure.metrics import pointing_game
from tests.helpers import BUNDLED, FIXTURES
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor


@pytest.fixture(scope="module")
def model() -> ViTHybridForImageClassification:
    return ViTHybridForImageClassification.from_pretrained(BUNDLED).requires_grad_(False)


def test_it_is_small_and_complete():
    files = {p.name: p.stat().st_size for p in BUNDLED.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= set(files)
    assert sum(files.values()) < 4 * 2**20


def test_it_is_the_documented_architecture_with_label_names(model):
    assert model.config.to_dict()["backbone_config"] == scene_config(model.config.image_size, width=2).backbone_config.to_dict()
    assert [model.config.id2label[i] for i in range(len(CLASSES))] == list(CLASSES)


def test_the_reference_reads_it_identically(model):
    """Pixels from the reference's processor and its logits and attentions, recorded by
    tests/fixtures/make_model_fixtures.py with transformers 4.46.3."""
    ref = load_file(FIXTURES / "bundled_reference.safetensors")
    processor = ViTHybridImageProcessor.from_pretrained(BUNDLED)
    scenes = [make_scene(TEST_SEED, i, model.config.image_size) for i in range(len(ref["labels"]))]
    pixels = processor([s.image for s in scenes], return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixels, ref["pixel_values"], atol=1e-5, rtol=0)
    with torch.no_grad():
        out = model(pixels, output_attentions=True)
    assert len(ref["labels"]) == 8
    torch.testing.assert_close(out.logits, ref["logits"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.attentions[-1], ref["last_attention"], atol=1e-4, rtol=0)


def test_accuracy_on_fresh_scenes(model):
    """200 test-seed scenes (scripts/evaluate.py reports the full 2,000)."""
    images, labels = make_batch(TEST_SEED, 0, 200, model.config.image_size, processes=2)
    with torch.no_grad():
        predicted = model(to_pixels(images)).logits.argmax(-1)
    assert (predicted == torch.from_numpy(labels)).float().mean() >= 0.95


def test_layercam_points_at_the_object(model):
    processor = ViTHybridImageProcessor.from_pretrained(BUNDLED)
    tolerance = model.config.token_stride // 2
    hits = 0
    for index in range(60):
        scene = make_scene(TEST_SEED, index, model.config.image_size)
        e = explain(model, scene.image, processor, top_k=1, fusions=("mean",))
        maps = e.classes[e.predictions[0].index]
        hits += pointing_game(maps.layercam["stage2"], region(scene, tolerance))
    assert hits / 60 >= 0.8


def test_the_bright_right_edge_of_stage1_gradcam_is_the_models_own(model):
    """Grad-CAM on stage 1 of the star example is brightest along its last column. The reference
    (transformers 4.46.3, tests/fixtures/make_model_fixtures.py) computes the same stage-1
    activations and gradients, so the edge comes from the model ("SAME" padding pads right and
    bottom more), not from this package; the page says so under such a map."""
    from explain.cam import gradcam
    from explain.inputs import model_input
    from tests.helpers import EXAMPLES
    from vit_hybrid.images import load_image

    ref = load_file(FIXTURES / "bundled_stage1_reference.safetensors")
    pixels, _ = model_input(load_image(EXAMPLES / "scene-star.png"), ViTHybridImageProcessor.from_pretrained(BUNDLED),
                            model.config)
    torch.testing.assert_close(pixels, ref["pixel_values"], atol=1e-6, rtol=0)
    x = pixels.clone().requires_grad_(True)
    out = model(x, output_backbone_states=True)
    top = int(out.logits[0].argmax())
    stage1 = out.backbone_hidden_states[1]
    (gradient,) = torch.autograd.grad(out.logits[0, top], stage1)
    assert top == int(ref["top"])
    torch.testing.assert_close(stage1.detach(), ref["stage1"], atol=1e-5, rtol=0)
    torch.testing.assert_close(gradient, ref["stage1_gradient"], atol=1e-6, rtol=0)
    theirs = gradcam(ref["stage1"], ref["stage1_gradient"])[0]
    torch.testing.assert_close(gradcam(stage1.detach(), gradient)[0], theirs, atol=1e-7, rtol=0)
    strongest = theirs.flatten().topk(5).indices
    assert sum(int(i) % theirs.shape[1] == theirs.shape[1] - 1 for i in strongest) == 4  # the reference's own edge
