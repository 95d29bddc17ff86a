"""glibc's heap, tuned for one process that serves many visitors' model steps (a no-op elsewhere).

One heap (arena) for every thread: glibc otherwise gives each new thread a heap of its own, and
Gradio runs events on many worker threads; the first forward on a fresh heap paid about 0.2 s more
(0.85 s on the heap the warm-up grew, 1.05 s on a new one).

Freed memory is not handed back (`malloc_trim`) when the app goes idle: it was tried, and memory
handed back must be faulted in again by the next crowd's kept passes (0.15 s more for a first step
that keeps a 0.66 GB pass, idle machine; in the one crowd benchmark run with it, loaded, first steps
of 3.5 s in a crowd of 8). A crowd's peak stays resident instead, capped by the kept passes' bound
(`explorer.graphs`).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # mallopt's parameter: the most heaps (arenas) threads may allocate from


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def one_heap() -> bool:
    """Has glibc keep one heap for every thread (as MALLOC_ARENA_MAX=1 would), from now on;
    whether it could. Call it before threads start."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, 1))
