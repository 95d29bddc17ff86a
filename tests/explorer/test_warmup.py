"""The start-up warm-up: it runs the page's own upload path on the served model and leaves
nothing of it behind, and every thread allocates from one heap, which keeps what it frees."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

from explain.explanation import Steps
from explorer import warmup
from explorer.analysis import GRAPHS, SCHEDULER
from explorer.graphs import estimate, tokens_of
from explorer.heap import one_heap
from explorer.scheduler import FIRST, LATER, RENDER
from explorer.store import ModelStore
from explorer.warmup import warm_up
from tests.helpers import BUNDLED, ROOT


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
    touched = []
    monkeypatch.setattr(warmup, "reserve", lambda size: touched.append((size, threading.current_thread().name)))
    assert warm_up(demo, store, "bundled", visitors=3) > 0
    ran = [kind for kind, _ in list(SCHEDULER.durations)[before:]]
    assert ran[0] == FIRST and LATER in ran and RENDER in ran  # on the app's model worker, as an upload's steps
    assert ran.count(FIRST) == 1 and max(held) == 1  # the upload's own pass
    served = store.get("bundled")
    pass_bytes = estimate(served.model.config, served.per_token, tokens_of(served.model.config, 128, 128))
    assert touched == [(3 * pass_bytes, "model-worker")] and 3 * pass_bytes < GRAPHS.bound  # three visitors' passes
    assert not GRAPHS.owners()
    assert list((tmp_path / "gradio").rglob("*.jpeg"))  # the overlay and the crop, encoded as the page sends them
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is Steps]  # the kept graph went with the stream


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibcs_heap_takes_one_arena():
    assert one_heap() is True


TOUCH_TWICE = """
import ctypes, resource, sys, threading
from explorer.heap import M_TRIM_THRESHOLD, one_heap
assert one_heap()
if sys.argv[1] == "trim":  # what a trim threshold of 0 (1 << 40 cut to a C int) did: trim at every free
    ctypes.CDLL("libc.so.6").mallopt(M_TRIM_THRESHOLD, 0)
from explorer.warmup import reserve
faults = []
def touch_twice():  # on a thread of its own, as the model's worker
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        reserve(256 << 20)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=touch_twice)
thread.start()
thread.join()
print(*faults)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("heap", ["kept", "trim"])
def test_the_heap_keeps_the_memory_the_warm_up_touched(heap):
    out = subprocess.run([sys.executable, "-c", TOUCH_TWICE, heap], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    first, second = map(int, out.split())
    assert first > (256 << 20) // 4096 * 0.9  # 256 MB of fresh 4 kB pages
    if heap == "kept":
        assert second < first * 0.1  # the same pages again
    else:
        assert second > first * 0.5  # handed back and faulted again: the check can fail
