"""glibc's heap, tuned for one process that serves many visitors' model steps (a no-op elsewhere).

One heap (arena) for every thread: glibc otherwise gives each new thread a heap of its own, so the
threads that decode uploads, encode answers and run the model's steps would each grow their own.
Measured before the model's steps had one worker thread, when Gradio's worker threads ran them:
the first forward on a fresh heap paid about 0.2 s more (0.85 s on the heap the warm-up grew,
1.05 s on a new one).

Freed memory is never handed back: memory handed back must be faulted in again by the next
crowd's kept passes, and in this VM fresh pages are dear. Four first steps keeping their passes
(0.66 GB each, Hub architecture) took 0.91, 1.06, 1.59 and 1.94 s on fresh memory and 0.87-1.15 s
on memory the heap had kept. So tensors (all under 32 MB in a 384 px pass) come from the heap, the
heap's top is never trimmed, and the warm-up grows it to a crowd's size (`explorer.warmup`); a
crowd's peak stays resident, capped by the kept passes' bound (`explorer.graphs`). (`malloc_trim`
on idle was tried and taken out for the same reason.)
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # mallopt's parameters: free memory at the heap's top handed back above this
M_MMAP_THRESHOLD = -3  # allocations from this size up get pages of their own, handed back when freed
M_ARENA_MAX = -8  # the most heaps (arenas) threads may allocate from
MMAP_THRESHOLD = 32 << 20  # glibc's largest: tensors under 32 MB (every one of a pass at 384 px) come from the heap
TRIM_THRESHOLD = 1 << 40  # never: the heap keeps what it grew to


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
