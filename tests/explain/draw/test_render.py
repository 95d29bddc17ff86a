"""Choosing and drawing maps from a stored explanation, and the session's on-demand class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from explain import explain
from explain.draw.overlay import DISPLAY_SIDE, overlay
from explain.draw.render import MapChoice, gallery, percent, render, select_map
from explorer.analysis import analyse, display_image, ensure_class
from explorer.store import ServedModel
from tests.helpers import EXAMPLES, load_photo


@pytest.fixture(scope="module")
def explanation(model, processor):
    return explain(model, load_photo("chelsea.png"), processor, top_k=2)


def test_each_choice_selects_its_own_map(explanation):
    top = explanation.predictions[0].index
    assert torch.equal(select_map(explanation, MapChoice("rollout", layer=1, fusion="max"))[0], explanation.rollout["max"][0])
    assert torch.equal(select_map(explanation, MapChoice("rollout"))[0], explanation.rollout["mean"][-1])
    assert torch.equal(select_map(explanation, MapChoice("raw_attention", layer=2, head=1))[0], explanation.raw_attention[1, 1])
    assert torch.equal(select_map(explanation, MapChoice("raw_attention", layer=2))[0], explanation.raw_attention[1].mean(0))
    assert torch.equal(select_map(explanation, MapChoice("gradcam", stage="stage1"))[0], explanation.classes[top].gradcam["stage1"])
    second = explanation.predictions[1].index
    values, caption = select_map(explanation, MapChoice("layercam", class_index=second))
    assert torch.equal(values, explanation.classes[second].layercam["stage2"])  # the default stage
    assert explanation.predictions[1].label in caption and "stage2" in caption
    assert torch.equal(select_map(explanation, MapChoice("gradient_rollout"))[0], explanation.classes[top].gradient_rollout)


@pytest.mark.parametrize(
    ("choice", "error"),
    [
        (MapChoice("nonsense"), ValueError),
        (MapChoice("rollout", layer=0), ValueError),
        (MapChoice("raw_attention", head=99), ValueError),
        (MapChoice("rollout", fusion="median"), ValueError),
        (MapChoice("gradcam", stage="stage9"), ValueError),
    ],
)
def test_impossible_choices_are_refused(explanation, choice, error):
    with pytest.raises(error):
        select_map(explanation, choice)


def test_a_class_not_yet_explained_is_a_key_error(explanation):
    absent = next(i for i in range(5) if i not in explanation.classes)
    with pytest.raises(KeyError):  # the session adds it with explain_class first
        select_map(explanation, MapChoice("gradcam", class_index=absent))


def test_render_is_the_overlay_of_the_chosen_map(explanation):
    image = load_photo("chelsea.png")
    drawn, caption = render(image, explanation, MapChoice("raw_attention", layer=1), "viridis", 0.3)
    want = overlay(image, explanation.raw_attention[0].mean(0), explanation.geometry, "viridis", 0.3)
    np.testing.assert_array_equal(drawn, want)
    assert caption.startswith("raw attention of the class token, layer 1/")


def test_the_gallery_shows_what_the_method_has(explanation):
    top, second = (p.index for p in explanation.predictions[:2])
    title, layers = gallery(explanation, MapChoice("raw_attention", head=1))
    assert title == "Raw attention, layer by layer"
    assert layers == [(MapChoice("raw_attention", layer=n, head=1), f"layer {n}") for n in (1, 2, 3)]
    title, stages = gallery(explanation, MapChoice("gradcam", class_index=second))
    assert title == "Grad-CAM, stage by stage"
    assert stages == [(MapChoice("gradcam", stage=s, class_index=second), s) for s in ("stage1", "stage2", "stage3")]
    title, classes = gallery(explanation, MapChoice("gradient_rollout"))
    assert title == "Gradient rollout, class by class"
    assert classes == [(MapChoice("gradient_rollout", class_index=i),
                        f"{explanation.classes[i].label} ({percent(explanation.classes[i].probability)})") for i in (top, second)]


def test_session_runs_the_model_only_for_a_new_class(model, processor):
    served = ServedModel("tiny", model, processor)
    analysis = analyse(served, str(EXAMPLES / "coffee.jpg"), top_k=2)
    assert analysis.image.shape[:2] == (400, 600)  # already within DISPLAY_SIDE: unchanged
    same, ran = ensure_class(analysis, lambda: served, MapChoice("gradcam", class_index=analysis.explanation.predictions[1].index))
    assert same is analysis and not ran
    absent = next(i for i in range(model.config.num_labels) if i not in analysis.explanation.classes)
    assert ensure_class(analysis, lambda: served, MapChoice("rollout", class_index=absent)) == (analysis, False)
    added, ran = ensure_class(analysis, lambda: served, MapChoice("layercam", class_index=absent))
    assert ran and absent in added.explanation.classes and added.explanation.extra_passes == (absent,)


def test_display_image_keeps_large_uploads_small():
    assert max(display_image(Image.new("RGB", (5000, 1000))).shape[:2]) == DISPLAY_SIDE
