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


FREE_AND_LOOK = """
import ctypes, os, sys
from explorer.heap import M_TRIM_THRESHOLD, MMAP_THRESHOLD, one_heap
assert one_heap()
libc = ctypes.CDLL("libc.so.6")
if sys.argv[1] == "trim":  # what a trim threshold of 0 (1 << 40 cut to a C int) did: trim at every free
    libc.mallopt(M_TRIM_THRESHOLD, 0)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
resident = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
size = MMAP_THRESHOLD * 3 // 4  # from the heap, at its top
block = libc.malloc(size)
ctypes.memset(block, 1, size)
touched = resident()
libc.free(block)
print(size, touched - resident())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("heap", ["kept", "trim"])
def test_the_heap_keeps_what_it_frees(heap):
    out = subprocess.run([sys.executable, "-c", FREE_AND_LOOK, heap], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    size, handed_back = map(int, out.split())
    if heap == "kept":
        assert handed_back < size * 0.05  # the warm-up's touched pages stay for the passes that follow
    else:
        assert handed_back > size * 0.9  # trimmed at the free: the check can fail
