"""glibc's heap, tuned for one process that serves many visitors' model steps (no-ops elsewhere).

- One heap (arena) for every thread: glibc otherwise gives each new thread a heap of its own, and
  Gradio runs events on many worker threads; the first forward on a fresh heap paid about 0.2 s
  more (0.85 s on the heap the warm-up grew, 1.05 s on a new one).
- Freed memory handed back when the app is idle: glibc keeps what a crowd's kept passes freed
  (gigabytes), so a peak would stay in the resident size for good; the scheduler calls
  `return_free_memory` once a second after its last step (never between a crowd's steps, where
  memory handed back would be faulted in again).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # mallopt's parameter: the most heaps (arenas) threads may allocate from


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def one_heap() -> bool:
    """Has glibc keep one heap for every thread (as MALLOC_ARENA_MAX=1 would), from now on;
    whether it could. Call it before threads start."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, 1))


def return_free_memory() -> bool:
    """Hands the heap's free pages back to the system (`malloc_trim(0)`); whether any were."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
