"""The batch size of a dataset run, chosen by timing its own first images: batching pays on some
machines and models and not on others (on a 2-core CPU, quiet, the Hub architecture's rows came
0.56 a second one at a time and 0.37 sixteen a pass, the bundled model's 66 and 113; under load
from other work the Hub architecture's ranking turned round).

The run times real work at batch 1 and at batch B alternately (1, B, 1, B), so that a slow start
or a burst of other work on the cores falls on both sizes, and keeps the size with the least time
per image. The work and the clock are passed in, so the decision can be tested without a model.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

ROUNDS = 2  # timed passes at each size


@dataclass(frozen=True)
class Choice:
    """The chosen batch size and the seconds per image measured at each size (none when too few
    images of one size were there to time)."""

    batch_size: int
    per_image: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the run's log."""
        if not self.per_image:
            return f"batch size auto: {self.batch_size} (fewer than 2 images of one size to time)"
        times = ", ".join(f"{seconds:.4g} s at {size}" for size, seconds in self.per_image.items())
        return f"batch size auto: {self.batch_size} (seconds per image: {times})"


def choose(per_image: Mapping[int, float]) -> int:
    """The size with the least seconds per image; a tie goes to the smaller size (batching must
    pay for itself)."""
    return min(per_image, key=lambda size: (per_image[size], size))


def passes(count: int, size: int, rounds: int = ROUNDS) -> list[list[int]]:
    """The timed passes over `count` items: `rounds` times one item, then `size` items, taking the
    items in order and starting again from the first once all are taken (so a pass never holds an
    item twice while `size` <= `count`)."""
    positions = itertools.cycle(range(count))
    return [[next(positions) for _ in range(n)] for _ in range(rounds) for n in (1, size)]


def measure(work: Callable[[list[int]], object], count: int, size: int,
            clock: Callable[[], float] = time.perf_counter) -> dict[int, float]:
    """Seconds per image at 1 and at `size`, each the best of its passes: the first pass at a size
    pays one-time costs (new shapes), and other work on the cores only ever adds time.

    Args:
        work: does the real work on the items at the given positions, in one pass.
        count: the items there are (positions 0 to count - 1).
    """
    best: dict[int, float] = {}
    for positions in passes(count, size):
        start = clock()
        work(positions)
        seconds = (clock() - start) / len(positions)
        best[len(positions)] = min(seconds, best.get(len(positions), math.inf))
    return best


def decide(work: Callable[[list[int]], object], count: int, batch_size: int,
           clock: Callable[[], float] = time.perf_counter) -> Choice:
    """Batch 1 or `batch_size` (or `count`, when fewer), whichever `measure` finds faster per
    image; batch 1 without timing when fewer than 2 items are there."""
    size = min(batch_size, count)
    if size < 2:
        return Choice(1)
    per_image = measure(work, count, size, clock)
    return Choice(choose(per_image), per_image)
