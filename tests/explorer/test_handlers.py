"""The page's handlers called as plain functions, without a server: their updates, by component name,
for an upload (streamed), a control change during and after the stream, a model switch, a bad file,
and a class outside the top k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explain import MapChoice, explain
from explain.draw.render import percent, render
from explorer import handlers
from explorer.controls import Controls
from explorer.store import ModelStore
from explorer.visit import Visit
from tests.helpers import BUNDLED, EXAMPLES, MODELS, SHAPES, load_photo

STAR = str(EXAMPLES / "scene-star.png")


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore({"bundled": str(BUNDLED), "tiny": str(MODELS / "same_padding")})


def stream(store, image=STAR, view="crop", model="bundled", current="bundled", visit=None, controls=Controls()):
    return list(handlers.on_image(store, image, view, model, current, visit, controls))


@pytest.fixture(scope="module")
def streamed(store):
    return stream(store)


def test_the_stream_shows_predictions_and_rollout_first_then_one_class_per_step(store, streamed):
    served = store.get("bundled")
    direct = explain(served.model, load_photo("scene-star.png"), served.processor)
    first, fitted, *steps, last = streamed
    assert set(first) == {"state", "predictions", "class_index", "overlay", "caption", "status", "message"}  # at once
    assert list(first["predictions"]) == [p.label for p in direct.predictions]
    assert first["predictions"]["star"] == pytest.approx(direct.predictions[0].probability, abs=1e-6)
    visit = first["state"]
    analysis = visit.analysis
    assert (analysis.source, analysis.view, analysis.model) == (STAR, "crop", "bundled")
    assert first["caption"] == "rollout up to layer 4/4, mean of heads, discard 0.9"  # no gradient needed: drawn at once
    assert first["class_index"]["value"] == direct.predictions[0].index  # with the predictions: never a stale class
    top5 = [(f"{p.label} ({percent(p.probability)})", p.index) for p in direct.predictions]
    assert first["class_index"]["choices"] == top5  # the top 5 at once; every class with the first class's maps
    every = [m["class_index"] for m in steps if "class_index" in m]
    others = [(SHAPES[i], i) for i in range(6) if i not in dict(top5).values()]
    assert every == [{"__type__": "update", "choices": top5 + others}]
    assert "value" not in every[0] and every[0] is steps[0]["class_index"]  # the class chosen meanwhile stays
    assert fitted["layer"]["maximum"] == 4 and fitted["stage"]["value"] == "stage2" and fitted["seen"].shape[2] == 3
    assert first["status"] == "**Explaining the top 5 classes: 0 of 5 done…**"
    progress = [m["status"] for m in steps if "status" in m]
    assert progress == [f"**Explaining the top 5 classes: {n} of 5 done…**" for n in range(1, 6)]
    assert [m for m in steps if "gallery" in m] == [steps[1]]  # the gallery right after the first class
    assert last["status"] == "**Explained with bundled (8×8 tokens).**"
    assert last["json_download"]["value"].endswith(".json") and last["json_download"]["interactive"]
    assert last["png_download"]["value"].endswith(".png") and last["png_download"]["interactive"]
    assert first["message"] == "" and fitted["json_download"] == {"__type__": "update", "value": None, "interactive": False}
    for prediction in direct.predictions:  # every class as a direct explanation computes it
        ours = visit.analysis.explanation.classes[prediction.index]
        torch.testing.assert_close(ours.gradcam["stage1"], direct.classes[prediction.index].gradcam["stage1"],
                                   atol=1e-6, rtol=0)
    assert visit.pending == []


def test_the_same_request_again_changes_nothing(store, streamed):
    assert stream(store, visit=streamed[0]["state"]) == []


def test_a_control_change_redraws_from_what_is_computed(store, streamed):
    visit = streamed[0]["state"]
    updates = handlers.on_control(store, visit, Controls(method="gradcam", stage="stage1", colormap="viridis", opacity=0.3))
    assert set(updates) == {"overlay", "caption", "message"} and updates["message"] == ""  # nothing computed
    want, _ = render(visit.analysis.image, visit.analysis.explanation, MapChoice("gradcam", stage="stage1"), "viridis", 0.3)
    np.testing.assert_array_equal(updates["overlay"], want)
    assert updates["caption"].startswith("Grad-CAM on stage1 for “star”")


def test_a_class_outside_the_top_k_runs_the_model_once_more_and_says_so(store, streamed):
    visit = streamed[0]["state"]
    (missing,) = [i for i, name in enumerate(SHAPES) if name not in streamed[0]["predictions"]]
    updates = handlers.on_control(store, visit, Controls(method="layercam", class_index=missing))
    assert visit.analysis.explanation.extra_passes == (missing,)
    assert updates["message"] == f"**“{SHAPES[missing]}” is not among the top 5: the model ran once more to explain it.**"
    assert updates["caption"].startswith(f"LayerCAM on stage2 for “{SHAPES[missing]}”")
    assert updates["json_download"]["value"].endswith(".json")


def test_a_redraw_during_the_stream_moves_its_class_forward_and_merges(store):
    steps = handlers.on_image(store, STAR, "crop", "bundled", "bundled", None, Controls())
    first = next(steps)
    visit = first["state"]
    (missing,) = [i for i, name in enumerate(SHAPES) if name not in first["predictions"]]
    handlers.on_control(store, visit, Controls(method="gradcam", class_index=missing))  # one more pass, merged
    last = list(first["predictions"])[-1]
    index = SHAPES.index(last)
    waiting = handlers.on_control(store, visit, Controls(method="gradcam", class_index=index))
    assert waiting == {"message": f"**“{last}” is explained next; its map appears in a moment.**"}
    assert visit.pending[0] == index
    assert "class_index" not in next(steps)  # the other controls fitted to the image; the class chosen stays
    arrived = next(steps)  # the stream's next class: the one asked for, drawn as it arrives
    assert arrived["caption"].startswith(f"Grad-CAM on stage2 for “{last}”")
    rest = list(steps)
    classes = visit.analysis.explanation.classes
    assert set(classes) == set(range(6)) and visit.analysis.explanation.extra_passes == (missing,)  # nothing lost
    assert rest[-1]["status"] == "**Explained with bundled (8×8 tokens).**"


def test_a_newer_request_stops_the_stream_and_the_same_request_finishes_it(store):
    steps = handlers.on_image(store, STAR, "crop", "bundled", "bundled", None, Controls())
    visit = next(steps)["state"]
    next(steps), next(steps)  # the controls fitted, one class done
    handlers.on_request(visit, STAR, "whole", "bundled")  # the visitor switched the view
    assert list(steps) == []  # stopped at its next step, nothing more yielded for the old request
    assert len(visit.analysis.explanation.classes) in (1, 2) and visit.pending
    handlers.on_request(visit, STAR, "crop", "bundled")
    resumed = stream(store, visit=visit)
    assert resumed[-1]["status"] == "**Explained with bundled (8×8 tokens).**"
    assert len(visit.analysis.explanation.classes) == 5 and visit.pending == []


def test_a_model_switch_is_kept_or_refused_with_the_reason(store):
    switched = stream(store, image=None, model="tiny", current="bundled")
    assert switched == [{"current_model": "tiny", "message": "**Now using tiny.**"}]
    refused = stream(store, image=None, model="someone/else", current="bundled")
    assert len(refused) == 1 and refused[0]["model"] == "bundled"
    assert "is not one of the models this app serves" in refused[0]["message"]


def test_a_bad_file_gets_its_message_and_keeps_the_last_result(store, streamed, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("a shopping list, not a picture\n")
    visit = streamed[0]["state"]
    before = visit.analysis
    (updates,) = stream(store, image=str(notes), visit=visit)
    assert list(updates) == ["message"] and "is a text file, not an image" in updates["message"]
    assert visit.analysis is before


def test_measuring_before_an_upload_asks_for_one(store):
    assert handlers.on_measure(store, None, Controls()) == {"measure_note": "**⚠️ Upload an image first.**"}
    assert handlers.on_measure(store, Visit(), Controls()) == {"measure_note": "**⚠️ Upload an image first.**"}


def test_a_map_chosen_before_it_is_computed_is_drawn_by_the_stream(store):
    steps = handlers.on_image(store, STAR, "crop", "bundled", "bundled", None, Controls(method="gradcam"))
    first = next(steps)
    assert "overlay" not in first and first["predictions"]  # Grad-CAM needs the top class's backward
    visit = first["state"]
    waiting = handlers.on_control(store, visit, Controls(fusion="max"))  # rollout's other fusions come later
    assert waiting == {"message": "**Rollout with max fusion is computed next; its map appears in a moment.**"}
    rest = list(steps)
    captions = [m["caption"] for m in rest if "caption" in m]
    assert captions == ["rollout up to layer 4/4, max of heads, discard 0.9"]
    served = store.get("bundled")
    direct = explain(served.model, load_photo("scene-star.png"), served.processor)
    for fusion in ("mean", "max", "min"):
        torch.testing.assert_close(visit.analysis.explanation.rollout[fusion], direct.rollout[fusion], atol=1e-6, rtol=0)


def test_a_class_specific_map_chosen_before_the_upload_comes_with_the_top_class(store):
    messages = stream(store, controls=Controls(method="layercam"))
    drawn = [m for m in messages if "overlay" in m]
    assert "overlay" not in messages[0] and len(drawn) == 1
    assert drawn[0]["status"] == "**Explaining the top 5 classes: 1 of 5 done…**"
    assert drawn[0]["caption"].startswith("LayerCAM on stage2 for “star”")
