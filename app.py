"""ViT-Hybrid Explorer: upload an image, see the top predictions and where they come from.

    python app.py                                  # google/vit-hybrid-base-bit-384, or the bundled model offline
    python app.py --model my-model --model google/vit-hybrid-base-bit-384 --port 7861

Serves on 127.0.0.1:7860 unless GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (as a Space sets them) or
--host / --port say otherwise. The work is done by `vit_hybrid` and `explain`; this file builds the
page, wires its events and launches it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image
import torch

from explain import default_stage
from explain.explanation import stage_names
from explain.export import explanation_record
from explain.metrics import deletion_insertion
from explain.overlay import mark_crop
from explain.plots import faithfulness_plot
from explain.render import METHODS, MapChoice, gallery_method, layer_gallery, render, select_map, target_class
from explain.rollout import FUSIONS
from explain.session import COMPUTE, Analysis, analyse, ensure_class
from vit_hybrid.images import MAX_PIXELS, ImageError
from vit_hybrid.store import DEFAULT_MODEL, ModelLoadError, ModelStore, choose_default

ROOT = Path(__file__).resolve().parent
BUNDLED = ROOT / "assets" / "model"
BUNDLED_NAME = "bundled: shape scenes (assets/model)"
EXAMPLES = ROOT / "assets" / "examples"
COLORMAPS = ["inferno", "viridis", "magma", "turbo", "jet", "gray"]
TOP_K = 5
DOWNLOADS = Path(tempfile.mkdtemp(prefix="vit-hybrid-downloads-"))  # our own names only, pruned
QUEUE_SIZE = 32  # waiting requests; beyond it a visitor is told the app is busy
MAX_FILE_SIZE = "50mb"
PIL.Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb guard, at our limit (it errors at 2x)


class ImageUpload(gr.Image):
    """`gr.Image` (upload, webcam, paste) that hands over the uploaded file undecoded: our loader
    decodes it once and says what is wrong with a bad file, where Gradio's own decoding would
    show only a bare "Error"."""

    is_template = True  # drawn by the frontend's Image component

    def preprocess(self, payload):  # noqa: D102 - gradio's signature
        if payload is None:
            return None
        if payload.path is not None:
            return str(payload.path)
        if payload.url and payload.url.startswith("data:"):  # base64 bytes, written as they are
            path = download_path("upload", "")
            path.write_bytes(base64.b64decode(payload.url.partition(",")[2], validate=False))
            return str(path)
        raise gr.Error("The image arrived without its data; please upload it again.")


@dataclass(frozen=True)
class Controls:
    """The map controls' values, as the page sends them."""

    method: str
    layer: int
    head: int
    fusion: str
    stage: str | None
    class_index: int | None
    colormap: str
    opacity: float

    def choice(self, analysis: Analysis) -> MapChoice:
        """The map these controls name, clamped to the analysis's model (layers, heads, stages)."""
        layers, heads = analysis.explanation.attention.shape[:2]
        stages = analysis.explanation.stages
        return MapChoice(
            method=self.method,
            layer=min(max(1, int(self.layer)), layers),
            head=None if self.head is None or not 0 <= int(self.head) < heads else int(self.head),
            fusion=self.fusion,
            stage=self.stage if self.stage in stages else None,
            class_index=None if self.class_index is None else int(self.class_index),
        )


def prune_downloads(max_age_s: float = 3600) -> None:
    """Removes download files older than an hour, so a long-running Space does not fill its disk."""
    for path in DOWNLOADS.glob("*"):
        try:
            if time.time() - path.stat().st_mtime > max_age_s:
                path.unlink()
        except FileNotFoundError:  # another visitor's request pruned it first
            pass


def download_path(kind: str, suffix: str) -> Path:
    """A new file in our download folder, under a name of our own (never the visitor's)."""
    prune_downloads()
    return DOWNLOADS / f"vit-hybrid-{kind}-{uuid.uuid4().hex[:12]}{suffix}"


def write_json(analysis: Analysis) -> str:
    """The numbers and maps of an analysis as a JSON file."""
    path = download_path("explanation", ".json")
    path.write_text(json.dumps({"model": analysis.model, **explanation_record(analysis.explanation)}))
    return str(path)


def write_png(drawn: np.ndarray | None):
    """The map just shown as a PNG file, written after it is shown (PNG encoding is the slow
    part of a redraw, so the page shows a JPEG first). Empties `drawn`, so that a step that drew
    nothing new writes nothing."""
    if drawn is None:
        return gr.skip(), gr.skip()
    path = download_path("map", ".png")
    PIL.Image.fromarray(drawn).save(path, compress_level=3)
    return str(path), None


def head_choices(heads: int) -> list[tuple[str, int]]:
    return [("mean of heads", -1)] + [(f"head {h + 1}", h) for h in range(heads)]


def message(text: str, kind: str = "note") -> str:
    return f"**{'⚠️ ' if kind == 'error' else ''}{text}**" if text else ""


def build(store: ModelStore, default: str, note: str | None = None, queue_size: int = QUEUE_SIZE) -> gr.Blocks:
    """The page: image and model in, predictions and maps out, every map control re-rendering
    from the visitor's stored analysis."""

    def labels(analysis: Analysis) -> dict[str, float]:
        """Top predictions for gr.Label, keyed by label (with the index where labels repeat, as
        ImageNet's two "crane" classes do)."""
        names = [p.label for p in analysis.explanation.predictions]
        return {(p.label if names.count(p.label) == 1 else f"{p.label} (#{p.index})"): p.probability
                for p in analysis.explanation.predictions}

    def class_choices(analysis: Analysis) -> list[tuple[str, int]]:
        config = store.get(analysis.model).model.config
        top = [(f"{p.label} ({p.probability:.1%})", p.index) for p in analysis.explanation.predictions]
        shown = {p.index for p in analysis.explanation.predictions}
        return top + [(config.id2label.get(i, str(i)), i) for i in range(config.num_labels) if i not in shown]

    def draw(analysis: Analysis, controls: Controls) -> tuple[Analysis, object, str, str]:
        """The overlay of the chosen map; runs the model only for a class outside the top k."""
        choice = controls.choice(analysis)
        analysis, ran = ensure_class(analysis, lambda: store.get(analysis.model), choice)
        image, caption = render(analysis.image, analysis.explanation, choice, controls.colormap, controls.opacity)
        if ran:
            label = analysis.explanation.classes[choice.class_index].label
            return analysis, image, caption, message(f"“{label}” is not among the top {TOP_K}: the model ran once more to explain it.")
        return analysis, image, caption, ""

    def gallery(analysis: Analysis | None, *values):
        if analysis is None:
            return gr.skip()
        controls = Controls(*values)
        choice = controls.choice(analysis)
        method = METHODS[gallery_method(choice)]
        return gr.update(
            value=[(img, f"layer {i}") for i, (img, _) in enumerate(layer_gallery(analysis.image, analysis.explanation, choice, controls.colormap, controls.opacity), 1)],
            label=f"{method}, layer by layer",
        )

    def on_image(source: str | None, view: str, model_name: str, state: Analysis | None, *values):
        """A new upload, view or model: explain it once, then draw it with the current controls
        (explaining the new top prediction)."""
        skip = (gr.skip(),) * 9
        if source is None:
            return (state, *skip, gr.skip(), gr.skip())  # cleared: the last result stays until the next image
        if state is not None and (state.source, state.view, state.model) == (source, view, model_name):
            return (state, *skip, gr.skip(), gr.skip())  # already explained: keep what the page shows
        try:
            analysis = analyse(store.get(model_name), source, view, TOP_K)
        except (ImageError, ModelLoadError) as err:
            return (state, *skip, message(str(err), "error"), gr.skip())
        controls = replace(Controls(*values), class_index=analysis.explanation.predictions[0].index)
        analysis, image, caption, _ = draw(analysis, controls)
        choice = controls.choice(analysis)
        layers, heads = analysis.explanation.attention.shape[:2]
        stages = list(analysis.explanation.stages)
        return (
            analysis,
            labels(analysis),
            image,
            caption,
            mark_crop(analysis.image, analysis.explanation.geometry),
            write_json(analysis),
            gr.update(choices=class_choices(analysis), value=choice.class_index),
            gr.update(maximum=layers, value=choice.layer),
            gr.update(choices=head_choices(heads), value=-1 if choice.head is None else choice.head),
            gr.update(choices=stages, value=choice.stage or default_stage(analysis.explanation.stages)),
            message(f"Explained with {model_name} ({analysis.explanation.grid[0]}×{analysis.explanation.grid[1]} tokens)."),
            image,
        )

    def on_control(state: Analysis | None, *values):
        """Redraws the overlay from the stored analysis. The state (and the JSON download) is sent
        back only when a new class was computed, so a redraw that ends after a new upload's
        analysis cannot put the old picture back; the status line is left alone unless the model
        had to run or the map cannot be drawn."""
        if state is None:
            return (gr.skip(),) * 6
        try:
            updated, image, caption, note_text = draw(state, Controls(*values))
        except (ValueError, KeyError, ModelLoadError) as err:
            return *(gr.skip(),) * 3, message(f"That map cannot be drawn ({err}).", "error"), gr.skip(), gr.skip()
        if updated is state:
            return gr.skip(), image, caption, gr.skip(), image, gr.skip()
        return updated, image, caption, note_text, image, write_json(updated)

    def on_model(name: str, current: str):
        """Switches this visitor's model; one that fails to load leaves them on their current one."""
        try:
            store.get(name)
        except ModelLoadError as err:
            return current, gr.update(value=current), message(str(err), "error")
        return name, gr.update(), message(f"Now using {name}.")

    def on_measure(state: Analysis | None, method, layer, head, fusion, stage, class_index, colormap, opacity,
                   progress=gr.Progress()):
        """Deletion and insertion curves of the current map against a random order, with progress
        (Gradio passes `progress` only to a parameter that is not keyword-only)."""
        if state is None:
            return None, message("Upload an image first.", "error")
        choice = Controls(method, layer, head, fusion, stage, class_index, colormap, opacity).choice(state)
        model_of = store.get(state.model)
        state, _ = ensure_class(state, lambda: model_of, choice)
        values_map, caption = select_map(state.explanation, choice)
        index = target_class(state.explanation, choice)
        steps = 16
        total, done = 4 * (steps + 1), [0]

        def tick(count: int) -> None:
            done[0] += count
            progress((done[0], total), desc="scoring images with pixels deleted and inserted")

        with COMPUTE:
            result = deletion_insertion(model_of.model, state.explanation.pixel_values, values_map, index, steps=steps, progress=tick)
        label = model_of.model.config.id2label.get(index, str(index))
        return faithfulness_plot(result, f"{caption}: probability of “{label}”"), message(
            f"Deletion area {result.deletion.area:.3f} (random order {result.random_deletion.area:.3f}); "
            f"insertion area {result.insertion.area:.3f} (random order {result.random_insertion.area:.3f})."
        )

    def api_explain(source: str | None, model_name: str, view: str) -> dict:
        """Predictions and every map of an image, in the documented JSON form (README)."""
        if source is None:
            raise gr.Error("No image was given.")
        try:
            analysis = analyse(store.get(model_name), source, view, TOP_K)
        except (ImageError, ModelLoadError) as err:
            raise gr.Error(str(err)) from None
        return {"model": analysis.model, **explanation_record(analysis.explanation)}

    config = store.get(default).model.config  # the controls start fitted to the default model
    stages = list(stage_names(config))
    # Gradio's copies of outputs are deleted after an hour; no usage analytics leave the machine.
    with gr.Blocks(title="ViT-Hybrid Explorer", delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        gr.Markdown("# ViT-Hybrid Explorer\nUpload a picture to see what a ViT-Hybrid classifier predicts, and where in the picture its attention and gradients point.")
        if note:
            gr.Markdown(message(note), elem_id="fallback-note")
        state = gr.State(None, time_to_live=3600)  # a visitor's analysis, dropped an hour after its last change
        drawn = gr.State(None, time_to_live=3600)  # the overlay on show, for the PNG download
        current_model = gr.State(default)
        with gr.Row():
            with gr.Column(scale=1):
                image = ImageUpload(label="Image", type="filepath", sources=["upload", "webcam", "clipboard"], elem_id="image-input")
                model = gr.Dropdown(store.names, value=default, label="Model", allow_custom_value=store.allow_any, elem_id="model")
                view = gr.Radio([("centre crop (what the model was trained on)", "crop"), ("whole image", "whole")], value="crop", label="View")
                status = gr.Markdown(elem_id="status")
                predictions = gr.Label(num_top_classes=TOP_K, label="Top predictions", elem_id="predictions")
                seen = gr.Image(label="The region the model saw (the rest is dimmed)", interactive=False, format="jpeg")
            with gr.Column(scale=2):
                overlay_image = gr.Image(label="Map over the image", interactive=False, format="jpeg", elem_id="overlay")
                caption = gr.Markdown(elem_id="caption")
                with gr.Row():
                    method = gr.Radio([(v, k) for k, v in METHODS.items()], value="rollout", label="Method", elem_id="method")
                with gr.Row():
                    layer = gr.Slider(1, config.num_hidden_layers, value=config.num_hidden_layers, step=1, label="Layer (rollout and raw attention)", elem_id="layer")
                    head = gr.Dropdown(head_choices(config.num_attention_heads), value=-1, label="Head (raw attention)")
                    fusion = gr.Radio(list(FUSIONS), value="mean", label="Head fusion (rollout)")
                with gr.Row():
                    stage = gr.Radio(stages, value=default_stage(tuple(stages)), label="Backbone stage (Grad-CAM, LayerCAM)")
                    class_index = gr.Dropdown([], label="Class to explain (class-specific maps)", elem_id="class")
                with gr.Row():
                    colormap = gr.Dropdown(COLORMAPS, value="inferno", label="Colormap")
                    opacity = gr.Slider(0, 1, value=0.6, step=0.05, label="Opacity", elem_id="opacity")
                with gr.Row():
                    png_download = gr.DownloadButton("This map (PNG)", value=None, elem_id="png-download")
                    json_download = gr.DownloadButton("All numbers and maps (JSON)", value=None, elem_id="json-download")
                layers_gallery = gr.Gallery(label="Layer by layer", columns=6, height="auto", elem_id="gallery")
                with gr.Accordion("Measure faithfulness", open=False, elem_id="faithfulness"):
                    measure = gr.Button("Measure faithfulness of the current map", elem_id="measure")
                    curves = gr.Image(label="Deletion and insertion curves", interactive=False, elem_id="curves")
                    measure_note = gr.Markdown(elem_id="measure-note")
        gr.Examples([[str(p)] for p in sorted(EXAMPLES.glob("*")) if p.suffix in {".jpg", ".png"}], inputs=[image], label="Examples")

        controls = [method, layer, head, fusion, stage, class_index, colormap, opacity]
        gallery_controls = (method, head, fusion, colormap, opacity)  # what the layer gallery depends on
        image_outputs = [state, predictions, overlay_image, caption, seen, json_download, class_index, layer, head, stage, status, drawn]
        # The page's own events stay out of the API page (callable, undocumented); /explain is the API.
        model_group = dict(concurrency_id="model", api_visibility="undocumented")
        render_group = dict(concurrency_id="render", concurrency_limit=2, show_progress="hidden", trigger_mode="always_last",
                            api_visibility="undocumented")

        def explain_then_draw(event) -> None:
            """After `event`: explain the image, then draw the layer gallery and the PNG download."""
            event(on_image, [image, view, current_model, state, *controls], image_outputs, **model_group).then(
                gallery, [state, *controls], layers_gallery, **render_group
            ).then(write_png, drawn, [png_download, drawn], **render_group)

        explain_then_draw(image.change)
        explain_then_draw(view.input)
        explain_then_draw(model.input(on_model, [model, current_model], [current_model, model, status], **model_group).then)
        for control in controls:  # sliders on any change; the others on the visitor's input only
            event = control.change if isinstance(control, gr.Slider) else control.input
            event(on_control, [state, *controls], [state, overlay_image, caption, status, drawn, json_download],
                  **render_group).then(write_png, drawn, [png_download, drawn], **render_group)
            if control in gallery_controls:
                event(gallery, [state, *controls], layers_gallery, **render_group)
        measure.click(on_measure, [state, *controls], [curves, measure_note], **model_group)
        api_button = gr.Button(visible=False)
        api_button.click(api_explain, [image, model, view], gr.JSON(visible=False), api_name="explain", concurrency_id="model")
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help="a Hub id or local folder visitors may pick (repeatable; the first is the default). "
                             "Default: $VIT_HYBRID_MODEL (comma-separated), else google/vit-hybrid-base-bit-384, "
                             "or the bundled model when that is neither cached nor reachable")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--allow-any-model", action="store_true",
                        help="let visitors type any Hub id or server folder in the page (never on a public Space)")
    parser.add_argument("--max-models", type=int, default=3, help="models held in memory at once")
    parser.add_argument("--queue-size", type=int, default=QUEUE_SIZE,
                        help="requests that may wait; beyond it a visitor is told the app is busy and to retry")
    return parser.parse_args(argv)


def make_store(args: argparse.Namespace) -> tuple[ModelStore, str, str | None]:
    """The allowed models (those named plus the bundled one), the default, and a fallback note."""
    named = args.model or [m.strip() for m in os.environ.get("VIT_HYBRID_MODEL", "").split(",") if m.strip()]
    note = None
    if not named:
        source, note = choose_default(BUNDLED, DEFAULT_MODEL)
        named = [source]
    sources = {BUNDLED_NAME if Path(m).resolve() == BUNDLED else m: m for m in named}
    sources.setdefault(BUNDLED_NAME, str(BUNDLED))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    store = ModelStore(sources, capacity=args.max_models, device=device, allow_any=args.allow_any_model)
    default = next(iter(sources))
    try:
        store.get(default)  # load before serving, so the first visitor does not wait for it
    except ModelLoadError as err:
        note = f"{err} Showing the bundled model instead."
        default = BUNDLED_NAME
        store.get(default)
    return store, default, note


if __name__ == "__main__":
    arguments = parse_args()
    model_store, default_model, fallback_note = make_store(arguments)
    if fallback_note:
        print(fallback_note, flush=True)
    build(model_store, default_model, fallback_note, arguments.queue_size).launch(
        server_name=arguments.host, server_port=arguments.port, max_file_size=MAX_FILE_SIZE, show_error=True,
        enable_monitoring=False,  # Gradio's /monitoring pages would show every visitor's event statistics
    )
