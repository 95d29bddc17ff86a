"""The start-up warm-up: it runs the page's own upload path on the served model and leaves
nothing of it behind, and every thread allocates from one heap."""

from __future__ import annotations

import gc
import sys

import pytest

from explain.explanation import Steps
from explorer.analysis import GRAPHS, SCHEDULER
from explorer.heap import one_heap
from explorer.scheduler import FIRST, LATER, RENDER
from explorer.store import ModelStore
from explorer.warmup import warm_up
from tests.helpers import BUNDLED


def test_warm_up_runs_the_upload_path_encodes_its_pictures_and_keeps_no_graph(tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    store = ModelStore({"bundled": str(BUNDLED)})
    demo = app.build(store, "bundled")
    before = len(SCHEDULER.durations)
    held, original = [], GRAPHS.keep

    def keep(owner, graph, size):
        kept = original(owner, graph, size)
        held.append(len(GRAPHS.owners()))
        return kept

    monkeypatch.setattr(GRAPHS, "keep", keep)
    assert warm_up(demo, store, "bundled", passes=3) > 0
    ran = [kind for kind, _ in list(SCHEDULER.durations)[before:]]
    assert ran[0] == FIRST and LATER in ran and RENDER in ran  # on the app's model worker, as an upload's steps
    assert ran.count(FIRST) == 1 + 3 and max(held) == 3  # then three passes held at once: the heap a crowd needs
    assert not GRAPHS.owners()
    assert list((tmp_path / "gradio").rglob("*.jpeg"))  # the overlay and the crop, encoded as the page sends them
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is Steps]  # the kept graph went with the stream


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibcs_heap_takes_one_arena():
    assert one_heap() is True
