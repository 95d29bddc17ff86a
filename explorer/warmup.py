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
Then it keeps a few first steps' passes at once and drops them: the heap, which keeps what it
grew to (`explorer.heap`), holds what a crowd of that many needs, and a crowd's first steps do
not fault fresh pages (1.8-1.9 s each in a crowd of 4 after a start, 1.07 s with this).
"""

from __future__ import annotations

import time

import gradio as gr
import matplotlib

from .analysis import GRAPHS, SCHEDULER, first_step
from .controls import Controls
from .handlers import on_image
from .page import Page
from .paths import EXAMPLES
from .scheduler import FIRST
from .store import ModelStore

WARM_EXAMPLE = EXAMPLES / "chelsea.png"  # a photo, so that the crop view's full-size input is warmed


def warm_up(demo: gr.Blocks, store: ModelStore, model: str, classes: int = 1, passes: int = 4) -> float:
    """Runs an upload of `WARM_EXAMPLE` on `model` through the page's handler, to its first
    `classes` classes, and encodes its messages, then keeps `passes` first steps at once and
    drops them (the heap grows to what a crowd of that many needs, and keeps it); returns the
    seconds it took."""
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
    owners = [f"warm-up {i}" for i in range(passes)]
    for owner in owners:
        SCHEDULER.call(owner, FIRST, lambda owner=owner: first_step(served, str(WARM_EXAMPLE), "crop", owner))
    for owner in owners:
        GRAPHS.drop(owner)
        SCHEDULER.cancel(owner)
    return time.perf_counter() - start
