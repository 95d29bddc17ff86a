"""The forward passes kept between a visitor's steps, bounded in bytes.

A kept pass (an `explain.explanation.Steps` waiting for its class backwards) holds what autograd
saved: on the Hub architecture 0.66 GB for the crop view (577 tokens), 1.13 GB for the whole view
of a 3:2 photo (865 tokens), 4.9 GB at 2,305 tokens. That is layers x heads x tokens² attention
probabilities (4 bytes each) plus a part proportional to the tokens, measured per model at load
(`explain.passes.graph_bytes`: 807 kB a token on the Hub architecture, 81 kB on the bundled model);
`estimate` adds the two, within 1% of the measured size from 145 to 2,305 tokens.

A visitor whose pass does not fit gets a pass without a graph (the predictions and the maps that
need none, at once) and their graph is made again when enough is free. A kept pass is dropped
whole when its last class is done, when its visitor asks for something else or leaves.
"""

from __future__ import annotations

import threading
from typing import Any

import torch

from explain import graph_bytes
from vit_hybrid import ViTHybridConfig, ViTHybridForImageClassification

GRAPH_MEMORY = 6 * 2**30  # bytes: nine crop-view graphs of the Hub model, in a 16 GB CPU Space with room to spare
GRAPHS_WAIT_S = 1.0  # how long a visitor waiting for room sleeps before looking again (woken when a pass is dropped)


def tokens_of(config: ViTHybridConfig, height: int, width: int) -> int:
    """The encoder's tokens for an input of `height` x `width` pixels, the class token included."""
    rows, columns = config.token_grid_for(height, width)
    return rows * columns + 1


def estimate(config: ViTHybridConfig, per_token: float, tokens: int) -> int:
    """The bytes a kept pass of `tokens` tokens holds."""
    return int(config.num_hidden_layers * config.num_attention_heads * tokens**2 * 4 + per_token * tokens)


def per_token_bytes(model: ViTHybridForImageClassification) -> float:
    """The part of a kept pass's bytes that grows with the tokens, per token: one pass measured at
    half the model's input size."""
    config = model.config
    side = max(config.image_size // 2, 1)
    tokens = tokens_of(config, side, side)
    measured = graph_bytes(model, torch.zeros(1, config.num_channels, side, side))
    return (measured - estimate(config, 0.0, tokens)) / tokens


class KeptGraphs:
    """Owner -> its kept pass (anything with `close()`), with the bytes each holds, at most
    `bound` bytes in all (one pass is kept whatever its size when nothing else is)."""

    def __init__(self, bound: int = GRAPH_MEMORY) -> None:
        self.bound = bound
        self._kept: dict[str, tuple[Any, int]] = {}
        self._lock = threading.Condition()

    @property
    def used(self) -> int:
        with self._lock:
            return sum(size for _, size in self._kept.values())

    def fits(self, size: int) -> bool:
        """Whether a pass of `size` bytes may be kept now."""
        with self._lock:
            return self._fits(size)

    def keep(self, owner: str, graph: Any, size: int) -> bool:
        """Keeps `graph` for `owner` (dropping what it kept before) if it fits; when it does not,
        closes it and returns False."""
        self.drop(owner)
        with self._lock:
            if not self._fits(size):
                graph.close()
                return False
            self._kept[owner] = (graph, size)
            return True

    def get(self, owner: str) -> Any | None:
        with self._lock:
            kept = self._kept.get(owner)
        return None if kept is None else kept[0]

    def drop(self, owner: str, graph: Any | None = None) -> None:
        """Closes and forgets `owner`'s kept pass (only if it is `graph`, when given)."""
        with self._lock:
            kept = self._kept.get(owner)
            if kept is None or (graph is not None and kept[0] is not graph):
                return
            del self._kept[owner]
            self._lock.notify_all()
        kept[0].close()

    def wait_for_room(self, size: int, timeout: float) -> bool:
        """Waits until a pass of `size` bytes fits, at most `timeout` seconds; whether it does."""
        with self._lock:
            return self._lock.wait_for(lambda: self._fits(size), timeout)

    def _fits(self, size: int) -> bool:
        used = sum(s for _, s in self._kept.values())
        return used == 0 or used + size <= self.bound

    def owners(self) -> list[str]:
        with self._lock:
            return list(self._kept)
