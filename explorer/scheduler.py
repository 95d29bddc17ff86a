"""One worker for all of the app's model work: steps run one at a time, each on all the cores, in
the order that shows every visitor something soonest.

Gradio's queue runs whole events; a stream of six steps held the model for everyone behind it, so
the fourth of four visitors waited about 43 forwards for a picture that needs one. Here handlers
submit steps (a callable each) and wait for their results; the worker picks, whenever it is free:
1. drawing and encoding (`RENDER`): cheap, and run between steps so that no step shares the cores;
2. a job's step that has waited longer than `job_wait_s` (so that jobs never starve);
3. a visitor's first step (`FIRST`: the forward pass behind the predictions and the first map),
   in order of arrival;
4. every other step (`LATER`: a visitor's classes and JSON record, a job's forward and classes,
   faithfulness batches) round-robin by owner: an owner's k-th later step runs after every other
   owner's (k-1)-th, owners that came earlier first among equals. A started job's later steps
   rank the same way, by how many of its steps have run, and age from the moment each was
   submitted.

Owners are visitors (Gradio's `session_hash`) or jobs (an id per API call). `cancel(owner)` drops
an owner's waiting steps (their futures are cancelled) and forgets its rank: a visitor who uploads
again, changes view or model, or leaves has nothing of theirs run after the step running now.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

RENDER, FIRST, LATER = "render", "first", "later"
JOB_WAIT_S = 10.0  # a job's step waiting longer than this runs next


@dataclass
class Step:
    """A unit of work waiting for the worker."""

    owner: str
    kind: str
    run: Callable[[], Any]
    submitted: float
    job: bool
    order: int  # submission order, the last tie-break
    future: Future = field(default_factory=Future)


class Scheduler:
    """Steps from many owners, run one at a time by one worker thread in priority order.

    Args:
        clock: seconds, monotonic (injectable for tests).
        job_wait_s: how long a job's step may wait before it runs next.
        start: start the worker thread; without it, `run_next` runs steps in the caller (tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, job_wait_s: float = JOB_WAIT_S,
                 start: bool = True) -> None:
        self.clock = clock
        self.job_wait_s = job_wait_s
        self._waiting: list[Step] = []
        self._ranks: dict[str, int] = {}  # owner -> later steps run since it (re)joined
        self._joined: dict[str, int] = {}  # owner -> when it (re)joined, in submission order
        self._counter = itertools.count()
        self._running: Step | None = None
        self._changed = threading.Condition()
        self.durations: deque[tuple[str, float]] = deque(maxlen=10_000)  # (kind, seconds) of steps run: benchmarks
        self._start = start  # the worker starts with the first step (after `explorer.heap.one_heap`)

    def submit(self, owner: str, kind: str, run: Callable[[], Any], job: bool = False) -> Future:
        """Queues `run` for `owner`; its future gives the result (or the exception it raised)."""
        if kind not in (RENDER, FIRST, LATER):
            raise ValueError(f"unknown kind of step {kind!r}")
        with self._changed:
            order = next(self._counter)
            if kind == FIRST or (kind == LATER and owner not in self._joined):
                self._joined[owner], self._ranks[owner] = order, 0  # a new stream starts the round anew
            step = Step(owner, kind, run, self.clock(), job, order)
            self._waiting.append(step)
            if self._start:
                self._start = False
                threading.Thread(target=self._work, name="model-worker", daemon=True).start()
            self._changed.notify_all()
        return step.future

    def _key(self, step: Step, now: float) -> tuple:
        if step.kind == RENDER:
            return (0, step.order)
        if step.job and now - step.submitted > self.job_wait_s:
            return (1, step.submitted, step.order)
        if step.kind == FIRST:
            return (2, step.order)
        return (3, self._ranks.get(step.owner, 0), self._joined.get(step.owner, step.order), step.order)

    def _pick(self) -> Step | None:
        """Takes the waiting step that runs next (under the lock)."""
        if not self._waiting:
            return None
        now = self.clock()
        step = min(self._waiting, key=lambda s: self._key(s, now))
        self._waiting.remove(step)
        return step

    def order(self) -> list[Step]:
        """The waiting steps in the order they would run if nothing else arrived."""
        with self._changed:
            now = self.clock()
            return sorted(self._waiting, key=lambda s: self._key(s, now))

    def ahead(self, future: Future) -> int | None:
        """How many steps run before the one behind `future` (the running one included); None
        when it is not waiting."""
        queue = self.order()
        for n, step in enumerate(queue):
            if step.future is future:
                return n + (self._running is not None)
        return None

    def cancel(self, owner: str) -> int:
        """Drops `owner`'s waiting steps (their futures are cancelled) and its place in the round;
        returns how many were dropped. A step of theirs that is running finishes. Jobs call it
        when they end, so that the scheduler forgets them."""
        with self._changed:
            mine = [s for s in self._waiting if s.owner == owner]
            self._waiting = [s for s in self._waiting if s.owner != owner]
            self._ranks.pop(owner, None)
            self._joined.pop(owner, None)
        for step in mine:
            step.future.cancel()
        return len(mine)

    def run_next(self) -> bool:
        """Runs the next waiting step in this thread; whether there was one."""
        with self._changed:
            step = self._pick()
            if step is None:
                return False
            if step.kind == LATER and step.owner in self._ranks:
                self._ranks[step.owner] += 1
            self._running = step
        if step.future.set_running_or_notify_cancel():
            start = time.perf_counter()
            try:
                step.future.set_result(step.run())
            except BaseException as err:  # the submitter sees it; the worker goes on
                step.future.set_exception(err)
            self.durations.append((step.kind, time.perf_counter() - start))
        with self._changed:
            self._running = None
            self._changed.notify_all()
        return True

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting:
                    self._changed.wait()
            self.run_next()

    def call(self, owner: str, kind: str, run: Callable[[], Any], job: bool = False) -> Any:
        """Runs `run` as a step of `owner` and returns its result (waiting in this thread)."""
        return self.submit(owner, kind, run, job).result()

    def waiting(self, future: Future, poll_s: float = 0.1) -> Iterator[int]:
        """Yields how many steps are ahead of `future` whenever that changes, until it is done
        (then `future.result()` gives its result, or raises `CancelledError` when its owner's
        steps were cancelled)."""
        last = None
        while True:
            try:
                future.result(timeout=poll_s)
                return
            except concurrent.futures.TimeoutError:
                if (now := self.ahead(future)) is not None and now != last:
                    last = now
                    yield now
            except BaseException:  # cancelled, or the step failed: the caller's result() says which
                return
