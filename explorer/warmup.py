"""What the first upload after a start would pay for once, paid at start-up instead: a Space that
sleeps and wakes puts every first visitor there.

Measured on the 2-core CPU (py-spy, the first upload against the second): the model's first
forward and backward (oneDNN picks its kernels, the frozen model's standardised convolution
weights are computed and cached), the import of `matplotlib.pyplot` that Gradio's event wrapper
triggers through `matplotlib.get_backend()`, and the first JPEG encoding of a picture.
`warm_up` runs the page's own upload handler on an example to its first class and has the
page's components encode what it yields, before the server answers anyone.

That alone did not help: glibc gives each new thread a heap (arena) of its own, and Gradio runs
each event on one of its worker threads, so the first forward on a thread paid about 0.2 s to
grow a fresh heap (0.85 s in the thread that warmed up, 1.05 s in a new one).
`one_heap` makes every thread allocate from the one heap that the warm-up grew.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import gradio as gr
import matplotlib

from .controls import Controls
from .handlers import on_image
from .paths import EXAMPLES
from .store import ModelStore

WARM_EXAMPLE = EXAMPLES / "chelsea.png"  # a photo, so that the crop view's full-size input is warmed
M_ARENA_MAX = -8  # glibc's mallopt parameter: the most heaps (arenas) threads may allocate from


def one_heap() -> bool:
    """Has glibc keep one heap for every thread (as MALLOC_ARENA_MAX=1 would), from now on;
    whether it could (False where the C library is not glibc). Call it before threads start."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False


def encode(demo: gr.Blocks, updates: dict[str, Any]) -> None:
    """Has the page's components turn handler updates into what they send (JPEGs written to
    Gradio's cache), as an event's answer would be turned."""
    parts = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.components.Component) and b.elem_id}
    for name, value in updates.items():
        if name in parts and not isinstance(value, dict) and value is not None:
            parts[name].postprocess(value)


def warm_up(demo: gr.Blocks, store: ModelStore, model: str, classes: int = 1) -> float:
    """Runs an upload of `WARM_EXAMPLE` on `model` through the page's handler, to its first
    `classes` classes, and encodes its messages; returns the seconds it took."""
    start = time.perf_counter()
    matplotlib.get_backend()  # resolves the backend now (imports pyplot) rather than in the first event
    stream = on_image(store, str(WARM_EXAMPLE), "crop", model, model, None, Controls())
    visit = None
    try:
        for updates in stream:
            encode(demo, updates)
            visit = updates.get("state", visit)  # the first message carries the visitor's state
            if visit is not None and len(visit.analysis.explanation.classes) >= classes:
                break
    finally:
        stream.close()  # frees the kept graph
    return time.perf_counter() - start
