"""The page's event handlers: module-level functions that take the model store and the values they
need, and return their updates by component name (`explorer.page.Page.bind` turns these into
Gradio's dict returns; a name left out is left as it is). Tests call them without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import replace
from typing import Any

import gradio as gr
import torch

from explain import FUSIONS, METHODS, STAGE, default_stage
from explain.draw import (
    GALLERY_SIDE,
    gallery,
    is_empty,
    mark_crop,
    method_of,
    overlay,
    percent,
    render,
    select_map,
    target_class,
)
from explain.measure import deletion_insertion
from vit_hybrid import ViTHybridConfig
from vit_hybrid.images import ImageError

from .analysis import (
    GRAPHS,
    SCHEDULER,
    TOP_K,
    Analysis,
    analyse,
    class_step,
    ensure_class,
    first_step,
    fusions_step,
    has_graph,
    to_explain,
)
from .controls import MEAN_OF_HEADS, Controls
from .downloads import analysis_record, write_json, write_png
from .plots import faithfulness_plot
from .scheduler import FIRST, LATER, RENDER
from .store import ModelLoadError, ModelStore
from .visit import Visit

Updates = dict[str, Any]
FAITHFULNESS_STEPS = 16
SAME_EDGE = ("its brightest cell lies on the right or bottom edge: the model's “SAME” padding pads those sides more, "
             "and the reference implementation (transformers 4.46.3) gives the same map")
EMPTY = ("**this map is zero everywhere**: nothing in the picture counts as positive evidence for it here "
         "(it is not a failure: the picture is shown without a map)")
NO_DOWNLOAD = gr.update(value=None, interactive=False)  # looks inactive until there is something to download


def download(path: str) -> dict:
    """A download button's update: the file, and the button active."""
    return gr.update(value=path, interactive=True)


def on_far_edge(values: torch.Tensor) -> bool:
    """Whether a map's strongest cell lies in its last row or column."""
    row, column = divmod(int(values.argmax()), values.shape[-1])
    return row == values.shape[-2] - 1 or column == values.shape[-1] - 1


def message(text: str, kind: str = "note") -> str:
    """A status line in Markdown; errors are marked."""
    return f"**{'⚠️ ' if kind == 'error' else ''}{text}**" if text else ""


def labels(analysis: Analysis) -> dict[str, float]:
    """Top predictions for gr.Label, keyed by label (with the index where labels repeat, as
    ImageNet's two "crane" classes do)."""
    predictions = analysis.explanation.predictions
    names = [p.label for p in predictions]
    return {(p.label if names.count(p.label) == 1 else f"{p.label} (#{p.index})"): p.probability for p in predictions}


def top_choices(analysis: Analysis) -> list[tuple[str, int]]:
    """The class control's first choices: the top k with their probabilities."""
    return [(f"{p.label} ({percent(p.probability)})", p.index) for p in analysis.explanation.predictions]


def class_choices(config: ViTHybridConfig, analysis: Analysis) -> list[tuple[str, int]]:
    """The class control's every choice: the top k, then every other class. Sent after the first
    picture: a thousand choices took the browser some 40 ms to take in, ahead of the picture."""
    shown = {p.index for p in analysis.explanation.predictions}
    others = [(config.id2label.get(i, str(i)), i) for i in range(config.num_labels) if i not in shown]
    return top_choices(analysis) + others


def head_choices(heads: int) -> list[tuple[str, int]]:
    """The head control's choices: the mean, then each head."""
    return [("mean of heads", MEAN_OF_HEADS)] + [(f"head {h + 1}", h) for h in range(heads)]


def method_choices() -> list[tuple[str, str]]:
    """The method control's choices, from the method registry: (plain-words label, name)."""
    return [(method.label, name) for name, method in METHODS.items()]


def draw(analysis: Analysis, controls: Controls) -> Updates | None:
    """The overlay of the chosen map and its caption, or None when that map is not computed yet
    (a class still pending, or a head fusion the stream adds after the first class)."""
    explanation = analysis.explanation
    try:
        values, caption = select_map(explanation, controls.choice(analysis))
    except KeyError:
        return None
    if is_empty(values):
        caption += f" — {EMPTY}"
    elif analysis.same_padding and METHODS[controls.method].axis == STAGE and on_far_edge(values):
        caption += f" — {SAME_EDGE}"
    picture = SCHEDULER.call("page", RENDER, lambda: overlay(analysis.image, values, explanation.geometry,
                                                              controls.colormap, controls.opacity))
    return {"overlay": picture, "caption": caption}


def shown(visit: Visit, drawn: Updates | None) -> Updates:
    """A drawn overlay's updates, remembered as the one on screen (for the PNG download); when
    there is none, the visit waits for the stream to draw it."""
    visit.waiting = drawn is None
    if drawn is None:
        return {}
    visit.shown = drawn["overlay"]
    return drawn


def redraw_if_waiting(visit: Visit) -> Updates:
    """The chosen map, if the page was waiting for it and it is computed now (and the note that
    said it was coming gone)."""
    drawn = shown(visit, draw(visit.analysis, visit.controls)) if visit.waiting else {}
    return {**drawn, "message": ""} if drawn else {}


def progress_line(visit: Visit) -> str:
    """How far the stream is: the classes explained out of the top k."""
    done = len(visit.analysis.explanation.classes)
    total = done + len(visit.pending)
    return message(f"Explaining the top {total} classes: {done} of {total} done…")


def on_request(state: Visit | None, image: str | None, view: str, model: str, request: gr.Request | None = None
               ) -> Updates:
    """Records the visitor's latest request (image, view, model) the moment it is made: their
    waiting steps are dropped and their kept pass freed, and a stream still working on an older
    request stops at its next step."""
    visit = state or Visit()
    if request is not None and request.session_hash:
        visit.owner = request.session_hash  # what `on_leave` is told when the tab closes
    visit.wanted = (image, view, model)
    leave(visit.owner)
    return {"state": visit}


def leave(owner: str) -> None:
    """Drops `owner`'s waiting steps and kept pass: nothing of theirs runs after the current step."""
    SCHEDULER.cancel(owner)
    GRAPHS.drop(owner)


def on_leave(request: gr.Request) -> None:
    """A visitor closed the page (Gradio's unload): their work goes."""
    if request is not None and request.session_hash:
        leave(request.session_hash)


def place(ahead: int) -> str:
    """Where a visitor waiting for their first step stands."""
    return message(f"Waiting for the model: {ahead} {'picture' if ahead == 1 else 'pictures'} ahead of yours…")


def on_image(store: ModelStore, image: str | None, view: str, model: str, current_model: str, state: Visit | None,
             controls: Controls) -> Iterator[Updates]:
    """A new upload, view or model, streamed: while the visitor waits for the model, their place;
    the predictions, the crop and the chosen map if it needs no gradient as soon as the forward
    pass is done; then the top class's maps; then the other top-k classes, one per step. Each is a
    step of the app's scheduler. A cleared image changes nothing; the same request again finishes
    a stream that was stopped; a model that will not load leaves the visitor on theirs."""
    visit = state or Visit()
    if model != current_model:
        try:
            store.get(model)
        except ModelLoadError as err:
            visit.wanted = (image, view, current_model)
            yield {"model": current_model, "message": message(str(err), "error")}
            model = current_model
        else:
            yield {"current_model": model, "message": message(f"Now using {model}.")}
    if image is None:
        return
    request = (image, view, model)
    visit.wanted = request
    owner, analysis = visit.owner, visit.analysis
    try:
        served = store.get(model)
        if analysis is not None and (analysis.source, analysis.view, analysis.model) == request:
            if not visit.pending:
                return  # already explained: keep what the page shows
        else:
            fusion = controls.fusion if controls.fusion in FUSIONS else FUSIONS[0]
            future = SCHEDULER.submit(owner, FIRST, lambda: first_step(served, image, view, owner, (fusion,)))
            for ahead in SCHEDULER.waiting(future):
                yield {"status": place(ahead)}
            analysis = future.result()
            visit.begin(analysis, to_explain(analysis))
            yield first_message(visit, analysis, controls)
            yield fitted_controls(analysis, visit.controls)
        yield from explain_classes(served, visit, analysis, request)
    except (ImageError, ModelLoadError) as err:
        yield {"message": message(str(err), "error")}
    except CancelledError:
        return  # the visitor asked for something else, or left
    finally:
        if visit.wanted == request:
            GRAPHS.drop(owner)  # normally gone with the last class; not after an error either


def explain_classes(served, visit: Visit, analysis: Analysis, request: tuple) -> Iterator[Updates]:
    """The stream's later steps: each pending class from the kept pass (made again first when there
    is none: a stopped stream, or a pass that did not fit, once there is room), rollout's other
    fusions after the first, then the JSON download."""
    owner, first = visit.owner, True
    while visit.wanted == request and (index := visit.next_class()) is not None:
        if not has_graph(served, analysis, owner):
            continue  # no room yet: look again (the visitor may have asked for something else meanwhile)
        maps = SCHEDULER.call(owner, LATER, lambda: class_step(served, owner, index))
        if maps is None:
            continue
        analysis = visit.add(analysis, maps)
        if analysis is None or visit.wanted != request:
            return  # a newer request: nothing more for this image
        every = {"class_index": gr.update(choices=class_choices(served.model.config, analysis))} if first else {}
        yield {"status": progress_line(visit), **every, **redraw_if_waiting(visit)}  # the class chosen stays
        if first and visit.wanted == request:  # once the first class is shown: the other fusions, the gallery
            maps = SCHEDULER.call(owner, LATER, lambda: fusions_step(owner))
            analysis = (visit.add_maps(analysis, maps) if maps else analysis) or analysis
            yield {**redraw_if_waiting(visit), **on_gallery(visit, visit.controls)}
            first = False
    if visit.wanted == request:
        grid = analysis.explanation.grid
        # A later step, not a drawing one: in a crowd the record (and the downloads drawn right
        # after it) waits for the other visitors' last classes.
        record = SCHEDULER.call(owner, LATER, lambda: write_json(visit.analysis))
        yield {"status": message(f"Explained with {served.name} ({grid[0]}×{grid[1]} tokens)."),
               "json_download": download(record), **on_png(visit), **on_gallery(visit, visit.controls)}


def first_message(visit: Visit, analysis: Analysis, controls: Controls) -> Updates:
    """What the page shows as soon as the forward pass is done: the predictions, the chosen map
    (when it needs no gradient) and the class control on the top class, in the same message (a
    method chosen as the predictions appear must not explain the previous image's class), its
    choices the top k (every other class follows with the first class's maps)."""
    visit.controls = replace(controls, class_index=analysis.explanation.predictions[0].index)
    return {
        **shown(visit, draw(analysis, visit.controls)),
        "state": visit,
        "predictions": labels(analysis),
        "class_index": gr.update(choices=top_choices(analysis), value=visit.controls.class_index),
        "status": progress_line(visit),
        "message": "",  # the last error, about an earlier file, is gone
    }


def fitted_controls(analysis: Analysis, controls: Controls) -> Updates:
    """Right after: the crop marked on the picture, the other controls fitted to the image and model, and
    what belonged to the previous image (faithfulness curves, downloads) cleared."""
    explanation = analysis.explanation
    choice = controls.choice(analysis)
    return {
        "seen": SCHEDULER.call("page", RENDER, lambda: mark_crop(analysis.image, explanation.geometry)),
        "layer": gr.update(maximum=explanation.layers, value=choice.layer),
        "head": gr.update(choices=head_choices(explanation.heads), value=MEAN_OF_HEADS if choice.head is None else choice.head),
        "stage": gr.update(choices=list(explanation.stages), value=choice.stage or default_stage(explanation.stages)),
        "measure_note": "",
        "curves": None,
        "json_download": NO_DOWNLOAD,
        "png_download": NO_DOWNLOAD,
    }


def on_control(store: ModelStore, state: Visit | None, controls: Controls) -> Updates:
    """Redraws the overlay from what is computed. A map the stream has not reached yet (a pending
    top-k class, which moves to the front; another head fusion) is drawn by the stream when it
    arrives; a class outside the top k takes one more pass, and the status says so; nothing is
    drawn over an image that has been replaced."""
    if state is None or state.analysis is None:
        return {}
    visit, analysis = state, state.analysis
    visit.controls = controls
    try:
        choice = controls.choice(analysis)
        drawn = draw(analysis, controls)
        note = None
        if drawn is None:
            index = target_class(analysis.explanation, choice)
            label = store.get(analysis.model).model.config.id2label.get(index, str(index))
            specific = method_of(choice).class_specific
            if not specific or visit.prefer(index):
                visit.waiting = True
                what = f"“{label}” is explained" if specific else f"Rollout with {choice.fusion} fusion is computed"
                return {"message": message(f"{what} next; its map appears in a moment.")}
            analysis, _ = ensure_class(analysis, lambda: store.get(analysis.model), choice, visit.owner)
            analysis = visit.merge(analysis, analysis.explanation.classes, analysis.explanation.extra_passes)
            if analysis is None:
                return {}
            drawn = draw(analysis, controls)
            note = message(f"“{label}” is not among the top {TOP_K}: the model ran once more to explain it.")
    except (ValueError, KeyError, ModelLoadError) as err:
        return {"message": message(f"That map cannot be drawn ({err}).", "error")}
    if not visit.shows(analysis):
        return {}  # a new image arrived meanwhile
    updates = {**shown(visit, drawn), "message": note or ""}
    if note and not visit.pending:
        updates["json_download"] = download(SCHEDULER.call(visit.owner, RENDER, lambda: write_json(visit.analysis)))
    return updates


def on_gallery(state: Visit | None, controls: Controls) -> Updates:
    """What the chosen method has, side by side: its layers, its stages, or the explained classes."""
    if state is None or state.analysis is None:
        return {}
    analysis = state.analysis
    try:
        title, choices = gallery(analysis.explanation, controls.choice(analysis))
        pictures = SCHEDULER.call(state.owner, RENDER, lambda: [
            (render(analysis.image, analysis.explanation, choice, controls.colormap, controls.opacity, GALLERY_SIDE)[0],
             label) for choice, label in choices])
    except (ValueError, KeyError):  # a map not computed yet: the stream's last step redraws the gallery
        return {}
    return {"gallery": gr.update(value=pictures, label=title)}


def on_png(state: Visit | None) -> Updates:
    """The map on screen as a PNG download, written after it is shown (PNG encoding is the slow
    part of a redraw, so the page shows a JPEG first), once per drawing."""
    if state is None or state.shown is None:
        return {}
    image, state.shown = state.shown, None
    return {"png_download": download(SCHEDULER.call(state.owner, RENDER, lambda: write_png(image)))}


def on_measure(store: ModelStore, state: Visit | None, controls: Controls,
               progress: Callable[..., Any] = lambda *a, **k: None) -> Updates:
    """Deletion and insertion curves of the current map against a random order, with progress."""
    if state is None or state.analysis is None:
        return {"measure_note": message("Upload an image first.", "error")}
    analysis = state.analysis
    choice = controls.choice(analysis)
    served = store.get(analysis.model)
    analysis, _ = ensure_class(analysis, lambda: served, choice, state.owner)
    values, caption = select_map(analysis.explanation, choice)
    index = target_class(analysis.explanation, choice)
    total, done = 4 * (FAITHFULNESS_STEPS + 1), [0]

    def tick(count: int) -> None:
        done[0] += count
        progress((done[0], total), desc="scoring images with pixels deleted and inserted")

    result = deletion_insertion(served.model, analysis.explanation.pixel_values, values, index,
                                steps=FAITHFULNESS_STEPS, progress=tick,
                                run=lambda work: SCHEDULER.call(state.owner, LATER, work, job=True))
    label = served.model.config.id2label.get(index, str(index))
    return {
        "curves": faithfulness_plot(result, f"{caption}: probability of “{label}”"),
        "measure_note": message(
            f"Deletion area {result.deletion.area:.3f} (random order {result.random_deletion.area:.3f}); "
            f"insertion area {result.insertion.area:.3f} (random order {result.random_insertion.area:.3f})."
        ),
    }


def on_explain(store: ModelStore, image: str | None, model: str, view: str) -> Updates:
    """The API: predictions and every map of an image, in the documented JSON form (docs/explanations.md)."""
    if image is None:
        raise gr.Error("No image was given.")
    try:
        analysis = analyse(store.get(model), image, view, TOP_K)
    except (ImageError, ModelLoadError) as err:
        raise gr.Error(str(err)) from None
    return {"record": analysis_record(analysis)}
