"""The page's event handlers: module-level functions that take the model store and the values they
need, and return their updates by component name (`explorer.page.Page.bind` turns these into
Gradio's dict returns; a name left out is left as it is). Tests call them without a server.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import gradio as gr

from explain import METHODS, default_stage
from explain.metrics import deletion_insertion
from explain.overlay import mark_crop
from explain.render import layer_gallery, render, select_map, target_class
from vit_hybrid.images import ImageError

from .analysis import COMPUTE, TOP_K, Analysis, analyse, ensure_class
from .controls import MEAN_OF_HEADS, Controls
from .downloads import analysis_record, write_json, write_png
from .plots import faithfulness_plot
from .store import ModelLoadError, ModelStore

Updates = dict[str, Any]
FAITHFULNESS_STEPS = 16


def message(text: str, kind: str = "note") -> str:
    """A status line in Markdown; errors are marked."""
    return f"**{'⚠️ ' if kind == 'error' else ''}{text}**" if text else ""


def labels(analysis: Analysis) -> dict[str, float]:
    """Top predictions for gr.Label, keyed by label (with the index where labels repeat, as
    ImageNet's two "crane" classes do)."""
    predictions = analysis.explanation.predictions
    names = [p.label for p in predictions]
    return {(p.label if names.count(p.label) == 1 else f"{p.label} (#{p.index})"): p.probability for p in predictions}


def class_choices(store: ModelStore, analysis: Analysis) -> list[tuple[str, int]]:
    """The class control's choices: the top k with their probabilities, then every other class."""
    config = store.get(analysis.model).model.config
    top = [(f"{p.label} ({p.probability:.1%})", p.index) for p in analysis.explanation.predictions]
    shown = {p.index for p in analysis.explanation.predictions}
    return top + [(config.id2label.get(i, str(i)), i) for i in range(config.num_labels) if i not in shown]


def head_choices(heads: int) -> list[tuple[str, int]]:
    """The head control's choices: the mean, then each head."""
    return [("mean of heads", MEAN_OF_HEADS)] + [(f"head {h + 1}", h) for h in range(heads)]


def method_choices() -> list[tuple[str, str]]:
    """The method control's choices, from the method registry: (plain-words label, name)."""
    return [(method.label, name) for name, method in METHODS.items()]


def draw(store: ModelStore, analysis: Analysis, controls: Controls) -> tuple[Analysis, Updates]:
    """The overlay of the chosen map, its caption, and the analysis it was drawn from (with a new
    class when the chosen one was outside the explained ones: the model runs once more, and the
    status says so)."""
    choice = controls.choice(analysis)
    analysis, ran = ensure_class(analysis, lambda: store.get(analysis.model), choice)
    image, caption = render(analysis.image, analysis.explanation, choice, controls.colormap, controls.opacity)
    updates = {"overlay": image, "caption": caption, "drawn": image}
    if ran:
        label = analysis.explanation.classes[choice.class_index].label
        updates["status"] = message(f"“{label}” is not among the top {TOP_K}: the model ran once more to explain it.")
    return analysis, updates


def on_image(store: ModelStore, image: str | None, view: str, current_model: str, state: Analysis | None,
             controls: Controls) -> Updates:
    """A new upload, view or model: explain it once, then draw it with the current controls
    (explaining the new top prediction). A cleared image or one already explained changes nothing."""
    if image is None or (state is not None and (state.source, state.view, state.model) == (image, view, current_model)):
        return {}
    try:
        analysis = analyse(store.get(current_model), image, view, TOP_K)
    except (ImageError, ModelLoadError) as err:
        return {"status": message(str(err), "error")}
    explanation = analysis.explanation
    controls = replace(controls, class_index=explanation.predictions[0].index)
    analysis, drawn = draw(store, analysis, controls)
    choice = controls.choice(analysis)
    return {
        **drawn,
        "state": analysis,
        "predictions": labels(analysis),
        "seen": mark_crop(analysis.image, explanation.geometry),
        "json_download": write_json(analysis),
        "class_index": gr.update(choices=class_choices(store, analysis), value=choice.class_index),
        "layer": gr.update(maximum=explanation.layers, value=choice.layer),
        "head": gr.update(choices=head_choices(explanation.heads), value=MEAN_OF_HEADS if choice.head is None else choice.head),
        "stage": gr.update(choices=list(explanation.stages), value=choice.stage or default_stage(explanation.stages)),
        "status": message(f"Explained with {current_model} ({explanation.grid[0]}×{explanation.grid[1]} tokens)."),
    }


def on_control(store: ModelStore, state: Analysis | None, controls: Controls) -> Updates:
    """Redraws the overlay from the stored analysis. The state (and the JSON download) is sent
    back only when a new class was computed, so a redraw that ends after a new upload's analysis
    cannot put the old picture back; the status line is left alone unless the model had to run
    or the map cannot be drawn."""
    if state is None:
        return {}
    try:
        updated, drawn = draw(store, state, controls)
    except (ValueError, KeyError, ModelLoadError) as err:
        return {"status": message(f"That map cannot be drawn ({err}).", "error")}
    if updated is state:
        return drawn
    return {**drawn, "state": updated, "json_download": write_json(updated)}


def on_gallery(state: Analysis | None, controls: Controls) -> Updates:
    """Every layer of the chosen method's gallery method, side by side."""
    if state is None:
        return {}
    choice = controls.choice(state)
    method = METHODS[METHODS[choice.method].gallery]
    pictures = layer_gallery(state.image, state.explanation, choice, controls.colormap, controls.opacity)
    return {"gallery": gr.update(value=[(img, f"layer {i}") for i, (img, _) in enumerate(pictures, 1)],
                                 label=f"{method.title}, layer by layer")}


def on_png(drawn: Any) -> Updates:
    """The map just shown as a PNG download, written after it is shown (PNG encoding is the slow
    part of a redraw, so the page shows a JPEG first). Empties `drawn`, so that a step that drew
    nothing new writes nothing."""
    if drawn is None:
        return {}
    return {"png_download": write_png(drawn), "drawn": None}


def on_model(store: ModelStore, model: str, current_model: str) -> Updates:
    """Switches this visitor's model; one that fails to load leaves them on their current one."""
    try:
        store.get(model)
    except ModelLoadError as err:
        return {"model": current_model, "status": message(str(err), "error")}
    return {"current_model": model, "status": message(f"Now using {model}.")}


def on_measure(store: ModelStore, state: Analysis | None, controls: Controls,
               progress: Callable[..., Any] = lambda *a, **k: None) -> Updates:
    """Deletion and insertion curves of the current map against a random order, with progress."""
    if state is None:
        return {"measure_note": message("Upload an image first.", "error")}
    choice = controls.choice(state)
    served = store.get(state.model)
    state, _ = ensure_class(state, lambda: served, choice)
    values, caption = select_map(state.explanation, choice)
    index = target_class(state.explanation, choice)
    total, done = 4 * (FAITHFULNESS_STEPS + 1), [0]

    def tick(count: int) -> None:
        done[0] += count
        progress((done[0], total), desc="scoring images with pixels deleted and inserted")

    with COMPUTE:
        result = deletion_insertion(served.model, state.explanation.pixel_values, values, index,
                                    steps=FAITHFULNESS_STEPS, progress=tick)
    label = served.model.config.id2label.get(index, str(index))
    return {
        "curves": faithfulness_plot(result, f"{caption}: probability of “{label}”"),
        "measure_note": message(
            f"Deletion area {result.deletion.area:.3f} (random order {result.random_deletion.area:.3f}); "
            f"insertion area {result.insertion.area:.3f} (random order {result.random_insertion.area:.3f})."
        ),
    }


def on_explain(store: ModelStore, image: str | None, model: str, view: str) -> Updates:
    """The API: predictions and every map of an image, in the documented JSON form (README)."""
    if image is None:
        raise gr.Error("No image was given.")
    try:
        analysis = analyse(store.get(model), image, view, TOP_K)
    except (ImageError, ModelLoadError) as err:
        raise gr.Error(str(err)) from None
    return {"record": analysis_record(analysis)}
