"""The method registry: a method added by one registration is computed, selectable, exported and
offered by the page's method control, with nothing else edited."""

from __future__ import annotations

import pytest
import torch

from explain import METHODS, MapChoice, Method, explain, register
from explain.draw.export import explanation_record
from explain.draw.render import percent, select_map
from tests.helpers import load_photo


def gradient_times_activation(activations, gradients):
    """A toy class-specific method: gradient x activation on stage 2, summed over channels."""
    return (gradients.stages["stage2"] * activations.stages["stage2"]).sum(dim=1)


@pytest.fixture
def toy():
    method = register(Method("toy", "Toy map", "Toy map: gradient times activation on stage 2",
                             gradient_times_activation, class_specific=True))
    yield method
    del METHODS["toy"]


def test_a_registered_method_is_computed_selected_and_exported(toy, model, processor):
    e = explain(model, load_photo("coffee.jpg"), processor, top_k=2)
    x = e.pixel_values.clone().requires_grad_(True)
    out = model(x, output_backbone_states=True, interpolate_pos_encoding=True)
    stage2 = out.backbone_hidden_states[2]
    record = explanation_record(e)
    for prediction in e.predictions:
        (gradient,) = torch.autograd.grad(out.logits[0, prediction.index], stage2, retain_graph=True)
        expected = (gradient * stage2).sum(dim=1)[0].detach()
        assert expected.abs().max() > 0
        torch.testing.assert_close(e.classes[prediction.index].toy, expected, atol=1e-6, rtol=1e-5)
        values, caption = select_map(e, MapChoice("toy", class_index=prediction.index))
        assert torch.equal(values, e.classes[prediction.index].maps["toy"])
        assert caption == f"Toy map for “{prediction.label}” ({percent(prediction.probability)})"
        (exported,) = [m for m in record["maps"] if m["method"] == "toy" and m["class_index"] == prediction.index]
        assert exported["grid"] == [8, 8]
        torch.testing.assert_close(torch.tensor(exported["values"]), expected, atol=1e-6, rtol=1e-5)


def test_a_registered_method_is_offered_by_the_page(toy):
    import app
    from explorer.store import ModelStore
    from tests.helpers import MODELS

    store = ModelStore({"tiny": str(MODELS / "same_padding")})
    demo = app.build(store, "tiny")
    (control,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "method"]
    assert ("Toy map: gradient times activation on stage 2", "toy") in control.choices
    assert [name for _, name in control.choices] == list(METHODS)


def test_every_method_has_one_name_a_label_and_maps_on_its_grid(model, processor):
    e = explain(model, load_photo("coffee.jpg"), processor, top_k=1)
    assert list(METHODS) == ["rollout", "raw_attention", "gradient_rollout", "gradcam", "layercam"]
    stage_grids = {"stage1": (16, 16), "stage2": (8, 8), "stage3": (4, 4)}
    for name, method in METHODS.items():
        assert method.name == name and method.label.startswith(method.title[0].upper())
        for stage in e.stages if method.axis == "stage" else [None]:
            values, caption = select_map(e, MapChoice(name, stage=stage))
            assert tuple(values.shape) == (stage_grids[stage] if stage else e.grid), name
            assert method.title.lower() in caption.lower()
