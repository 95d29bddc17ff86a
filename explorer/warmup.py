"""What the first upload after a start would pay for once, paid at start-up instead: a Space that
sleeps and wakes puts every first visitor there.

Measured on the 2-core CPU (py-spy, the first upload against the second): the model's first
forward and backward (oneDNN picks its kernels, the frozen model's standardised convolution
weights are computed and cached), the import of `matplotlib.pyplot` that Gradio's event wrapper
triggers through `matplotlib.get_backend()`, and the first JPEG encoding of a picture.
`warm_up` runs the page's own upload handler on an example to its first class and has the
page's components encode what it yields, before the server answers anyone.

The model's steps all run on the scheduler's one worker thread (`explorer.scheduler`), so the
warm-up, which goes through it as an upload does, warms the thread every later step runs on.
Then it touches what the admitted visitors' kept passes would hold, at most their bound
(`GRAPHS.bound`), and frees it: the heap keeps the pages (`explorer.heap`), so a crowd's first
steps do not fault fresh ones. In a crowd of 8 after a start, each first step beyond the fourth
faulted some 185,000 pages (0.7 GB) and took 2.2-2.4 s instead of 1.1 s; touching 6 GiB took
3.7 s, once.
"""

from __future__ import annotations

import time

import gradio as gr
import matplotlib
import torch

from .analysis import GRAPHS, SCHEDULER, graph_size
from .controls import Controls
from .handlers import on_image
from .heap import MMAP_THRESHOLD
from .page import Page
from .paths import EXAMPLES
from .scheduler import RENDER
from .store import ModelStore

WARM_EXAMPLE = EXAMPLES / "chelsea.png"  # a photo, so that the crop view's full-size input is warmed


def reserve(size: int, chunk: int = MMAP_THRESHOLD // 2) -> None:
    """Touches `size` bytes, in tensors of `chunk` bytes (small enough to come from the heap), and
    frees them: the heap keeps the pages (`explorer.heap`)."""
    chunks = [torch.empty(chunk, dtype=torch.uint8).fill_(1) for _ in range(size // chunk)]
    del chunks


def warm_up(demo: gr.Blocks, store: ModelStore, model: str, visitors: int, classes: int = 1) -> float:
    """Runs an upload of `WARM_EXAMPLE` on `model` through the page's handler, to its first
    `classes` classes, and encodes its messages; then, on a CPU, touches on the model's worker
    thread what the kept passes of `visitors` such uploads would hold, at most their bound
    (`GRAPHS.bound`), which the heap keeps; returns the seconds it took."""
    start = time.perf_counter()
    matplotlib.get_backend()  # resolves the backend now (imports pyplot) rather than in the first event
    page = Page(store)
    page.collect(demo)  # the page's components by name (its states aside, which carry no picture)
    stream = on_image(store, str(WARM_EXAMPLE), "crop", model, model, None, Controls())
    visit = None
    try:
        for updates in stream:
            page.encode(updates)  # as the page's binding has them encoded
            visit = updates.get("state", visit)  # the first message carries the visitor's state
            if visit is not None and len(visit.analysis.explanation.classes) >= classes:
                break
    finally:
        stream.close()  # frees the kept graph
    served = store.get(model)
    if visit is not None and served.model.device.type == "cpu":  # a GPU keeps its passes in its own memory
        memory = min(GRAPHS.bound, visitors * graph_size(served, visit.analysis.explanation.pixel_values))
        SCHEDULER.call("warm-up", RENDER, lambda: reserve(memory))
    return time.perf_counter() - start
