"""Gradio's summary of its own events, which this app never shows, is not computed.

After every event Gradio recomputes, in a worker thread, a summary of its last 10,000 events for
its /monitoring pages (a pandas DataFrame of them, grouped by function, with percentiles), even
with monitoring off, as it is here (`enable_monitoring=False`). That ran beside the model's steps,
and took more CPU as events accumulated; and pandas keeps its strings in Arrow, whose allocator
(mimalloc) reserves 1 GiB and a heap for each of Gradio's worker threads: the resident memory
that still grew and wandered from round to round under a long API load.
"""

from __future__ import annotations

import sys

import gradio as gr


def no_event_summary(demo: gr.Blocks) -> None:
    """Has `demo`'s queue (made by `demo.queue()`) never recompute its event summary: Gradio does
    so when this many events have been recorded since the last time."""
    demo._queue.ANAYLTICS_CACHE_FREQUENCY = sys.maxsize  # Gradio's spelling; a test checks that it is read
