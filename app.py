"""ViT-Hybrid Explorer: upload an image, see the top predictions and where they come from.

    python app.py                                  # google/vit-hybrid-base-bit-384, or the bundled model offline
    python app.py --model my-model --model google/vit-hybrid-base-bit-384 --port 7861

This file lays out the page and wires its events; the handlers and the rest live in `explorer/`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from explain import FUSIONS, default_stage
from explorer import handlers as h
from explorer.analysis import TOP_K
from explorer.analytics import no_event_summary
from explorer.controls import COLORMAPS, CONTROL_NAMES, MEAN_OF_HEADS
from explorer.heap import one_heap
from explorer.launch import CONCURRENCY, QUEUE_SIZE, make_store, parse_args
from explorer.page import Page
from explorer.paths import CSS, EXAMPLES
from explorer.store import ModelStore
from explorer.tool import add_summary_tool
from explorer.upload import MAX_FILE_SIZE, ImageUpload
from explorer.warmup import warm_up

SHOWN = (
    "state predictions overlay caption seen json_download png_download gallery class_index layer head stage "
    "status message measure_note curves model current_model"
).split()  # what a request's stream updates
DRAWN = ["overlay", "caption", "message", "json_download"]  # what a redraw updates
GALLERY_CONTROLS = ("method", "head", "fusion", "colormap", "opacity")  # what the layer gallery depends on
# Callable by name, but neither on the API page nor a tool of the MCP server (which lists the documented
# endpoints): the page's own events, and /explain (every map, some 270 KB: the tool links it instead).
HIDDEN = {"api_visibility": "undocumented"}
REDRAW = {"concurrency_id": "render", "concurrency_limit": 2, "show_progress": "hidden", "trigger_mode": "always_last"}


def build(store: ModelStore, default: str, note: str | None = None, queue_size: int = QUEUE_SIZE,
          concurrency: int = CONCURRENCY) -> gr.Blocks:
    """The page: image and model in, predictions and maps out, every map control re-rendering
    from the visitor's stored analysis. Components are named by their elem_id. Every event that
    runs the model shares one concurrency_id with one explicit limit, `concurrency` (Gradio gives
    the whole id the lowest limit among its events): that many are admitted at once and their
    steps run through the app's scheduler (`explorer.scheduler`), one at a time."""
    model_work = {"concurrency_id": "model", "concurrency_limit": concurrency}
    config = store.get(default).model.config  # the controls start fitted to the default model
    page = Page(store)
    # Gradio's copies of outputs are deleted after an hour; no usage analytics leave the machine.
    with gr.Blocks(title="ViT-Hybrid Explorer", delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        gr.Markdown(
            "# ViT-Hybrid Explorer\nUpload a picture to see what a ViT-Hybrid classifier predicts, "
            "and where in the picture its attention and gradients point."
        )
        if note:
            gr.Markdown(h.message(note), elem_id="fallback_note")
        page.add("state", gr.State(None, time_to_live=3600))  # the visitor's Visit, kept an hour after its last use
        page.add("current_model", gr.State(default))
        with gr.Row():
            with gr.Column(scale=1):
                sources = ["upload", "webcam", "clipboard"]
                image = ImageUpload(label="Image", type="filepath", sources=sources, elem_id="image")
                examples = [[str(p)] for p in sorted(EXAMPLES.glob("*")) if p.suffix in {".jpg", ".png"}]
                examples = gr.Examples(examples, inputs=[image], label="Examples", examples_per_page=9)
                model = gr.Dropdown(
                    store.names, value=default, label="Model", allow_custom_value=store.allow_any, elem_id="model"
                )
                views = [("centre crop (what the model was trained on)", "crop"), ("whole image", "whole")]
                view = gr.Radio(views, value="crop", label="View", elem_id="view")
                gr.Label(num_top_classes=TOP_K, label="Top predictions", elem_id="predictions")
                gr.Markdown(elem_id="status")
                seen = "The region the model saw (the rest is dimmed)"
                gr.Image(label=seen, interactive=False, format="jpeg", elem_id="seen")
            with gr.Column(scale=2):
                gr.Image(label="Map over the image", interactive=False, format="jpeg", elem_id="overlay")
                gr.Markdown(elem_id="message")  # about the image or the map: right under it, gone with the next success
                gr.Markdown(elem_id="caption")
                gr.Radio(h.method_choices(), value="rollout", label="Method", elem_id="method")
                with gr.Row():
                    layers = config.num_hidden_layers
                    gr.Slider(
                        1, layers, value=layers, step=1, label="Layer (rollout and raw attention)", elem_id="layer"
                    )
                    heads = h.head_choices(config.num_attention_heads)
                    gr.Dropdown(heads, value=MEAN_OF_HEADS, label="Head (raw attention)", elem_id="head")
                    gr.Radio(list(FUSIONS), value="mean", label="Head fusion (rollout)", elem_id="fusion")
                with gr.Row():
                    stage, stages = default_stage(config.stage_names), list(config.stage_names)
                    gr.Radio(stages, value=stage, label="Backbone stage (Grad-CAM, LayerCAM)", elem_id="stage")
                    gr.Dropdown([], label="Class to explain (class-specific maps)", elem_id="class_index")
                with gr.Row():
                    gr.Dropdown(list(COLORMAPS), value=COLORMAPS[0], label="Colormap", elem_id="colormap")
                    gr.Slider(0, 1, value=0.6, step=0.05, label="Opacity", elem_id="opacity")
                with gr.Row():
                    gr.DownloadButton("This map (PNG)", interactive=False, elem_id="png_download")
                    gr.DownloadButton("All numbers and maps (JSON)", interactive=False, elem_id="json_download")
                gallery = {"columns": 6, "height": "auto", "object_fit": "contain", "format": "jpeg"}
                gr.Gallery(label="Layer by layer", **gallery, elem_id="gallery")
                with gr.Accordion("Measure faithfulness", open=False, elem_id="faithfulness"):
                    measure = gr.Button("Measure faithfulness of the current map", elem_id="measure")
                    gr.Image(label="Deletion and insertion curves", interactive=False, elem_id="curves")
                    gr.Markdown(elem_id="measure_note")
        gr.JSON(visible=False, elem_id="record")
        page.collect(demo)

        # A request is recorded at once (so that a stream for an older one stops), then streamed.
        triggers = [image.change, view.input, model.input]
        requested = gr.on(
            triggers, **page.bind(h.on_request, ["state"]), queue=False, trigger_mode="multiple", **HIDDEN
        )
        progress = {"show_progress": "minimal", "show_progress_on": page.parts["status"]}
        requested.then(**page.bind(h.on_image, SHOWN), trigger_mode="multiple", **progress, **model_work, **HIDDEN)
        for name in CONTROL_NAMES:  # sliders on any change; the others on the visitor's input only
            control = page.parts[name]
            event = control.change if isinstance(control, gr.Slider) else control.input
            event(**page.bind(h.on_control, DRAWN), **REDRAW, **HIDDEN).then(
                **page.bind(h.on_png, ["png_download"]), **REDRAW, **HIDDEN
            )
            if name in GALLERY_CONTROLS:
                event(**page.bind(h.on_gallery, ["gallery"]), **REDRAW, **HIDDEN)
        scroll = "() => document.querySelector('#overlay').scrollIntoView({block: 'start'})"
        examples.dataset.click(None, js=scroll)  # an example's result comes into view
        measure.click(**page.bind(h.on_measure, ["curves", "measure_note"]), **model_work, **HIDDEN)
        explain = page.bind(h.on_explain, ["record"], forget=True)  # API clients only: Gradio's copies need not keep it
        gr.Button(visible=False).click(**explain, api_name="explain", **model_work, **HIDDEN)
        add_summary_tool(store, default, model_work)  # /explain_summary: the agents' tool (MCP)
        demo.unload(h.on_leave)  # a closed tab: the visitor's waiting steps and kept pass go
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    no_event_summary(demo)  # Gradio's per-event summary for its monitoring pages, which are off
    return demo


def start(argv: list[str] | None = None, **launch: Any) -> tuple[gr.Blocks, str]:
    """What `python app.py ARGV` does: one heap for every thread, the models, the page, the warm-up
    (before the page answers anyone), then Gradio's launch (with `launch`'s extra options: the
    benchmarks serve in their own process with `prevent_thread_lock=True`). Returns the page and
    its default model's name."""
    arguments = parse_args(argv, description=__doc__)
    one_heap()  # before the threads allocate
    model_store, default_model, fallback_note = make_store(arguments)
    if fallback_note:
        print(fallback_note, flush=True)
    demo = build(model_store, default_model, fallback_note, arguments.queue_size, arguments.concurrency)
    print(f"Warmed up in {warm_up(demo, model_store, default_model, arguments.concurrency):.1f} s.", flush=True)
    demo.launch(
        server_name=arguments.host,
        server_port=arguments.port,
        max_file_size=MAX_FILE_SIZE,
        show_error=True,
        css_paths=[CSS],
        mcp_server=arguments.mcp,  # None: Gradio reads GRADIO_MCP_SERVER
        enable_monitoring=False,  # Gradio's /monitoring pages would show every visitor's events
        **launch,
    )
    return demo, default_model


if __name__ == "__main__":
    start()
