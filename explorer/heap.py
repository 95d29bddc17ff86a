"""glibc's heap, tuned for one process that serves many visitors' model steps (a no-op elsewhere).

One heap (arena) for every thread: glibc otherwise gives each new thread a heap of its own, so the
threads that decode uploads, encode answers and run the model's steps would each grow their own.
Measured before the model's steps had one worker thread, when Gradio's worker threads ran them:
the first forward on a fresh heap paid about 0.2 s more (0.85 s on the heap the warm-up grew,
1.05 s on a new one).

Freed memory is never handed back: memory handed back must be faulted in again by the next
crowd's kept passes, and in this VM fresh pages are dear. In a crowd of 8 after a start, each
first step that kept a pass on fresh memory faulted some 185,000 pages (0.7 GB: 1.9 s of system
time) and took 2.2-2.4 s instead of 1.1 s. So tensors (all under 32 MB in a 384 px pass) come
from the heap, the heap's top is never trimmed, and the warm-up touches what the kept passes may
hold (`explorer.warmup`); the peak stays resident, capped by the kept passes' bound
(`explorer.graphs`). (`malloc_trim` on idle was tried and taken out for the same reason.)
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # mallopt's parameters: free memory at the heap's top handed back above this
M_MMAP_THRESHOLD = -3  # allocations from this size up get pages of their own, handed back when freed
M_ARENA_MAX = -8  # the most heaps (arenas) threads may allocate from
MMAP_THRESHOLD = 32 << 20  # glibc's largest: tensors under 32 MB (every one of a pass at 384 px) come from the heap
TRIM_THRESHOLD = -1  # never: mallopt takes a C int, which glibc reads as a size_t (-1: the largest);
# 1 << 40, as this once was, reached it as 0 and trimmed the heap at every large free


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def one_heap() -> bool:
    """Has glibc keep one heap for every thread (as MALLOC_ARENA_MAX=1 would), which keeps the
    memory it frees (MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_), from now on; whether it
    could. Call it before threads start."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, 1) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
