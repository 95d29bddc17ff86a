"""One visitor's page between events, shared by the events that run at once for them.

The upload stream (model queue) and the redraws (render queue) of one visitor run concurrently and
both add to the same analysis, so the page's state holds one mutable `Visit` that they merge into
under its lock: by class index, never losing a class the other added, never overwriting one. The
latest request (image, view, model) is recorded the moment it is made, so that a stream for an
older one stops at its next step, and work for an old image never lands on a new one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from explain import ClassMaps, Explanation, merge_maps

from .analysis import Analysis
from .controls import Controls

Request = tuple[str, str, str]  # (image file, view, model name)


@dataclass
class Visit:
    """Attributes:
    analysis: the image on the page, with the classes explained so far (replaced, never mutated).
    pending: its top-k classes still to explain, in the order the stream takes them.
    controls: the map controls the page shows, as last drawn (the stream draws with them too).
    wanted: the latest request; a stream for any other stops.
    waiting: the chosen map is not computed yet: the stream draws it when it is.
    shown: the overlay on screen not yet written as the PNG download.
    owner: whose steps the scheduler runs for this page (Gradio's session_hash once known).
    """

    analysis: Analysis | None = None
    pending: list[int] = field(default_factory=list)
    controls: Controls = field(default_factory=Controls)
    wanted: Request | None = None
    waiting: bool = False
    shown: np.ndarray | None = None
    owner: str = field(default_factory=lambda: f"visit-{uuid.uuid4().hex}")
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, analysis: Analysis, pending: list[int]) -> None:
        """Shows a newly explained image (its classes still `pending`)."""
        with self._lock:
            self.analysis, self.pending = analysis, list(pending)

    def next_class(self) -> int | None:
        """The pending class to explain next (it stays pending until added)."""
        with self._lock:
            return self.pending[0] if self.pending else None

    def prefer(self, index: int) -> bool:
        """Moves a pending class to the front; whether it was pending."""
        with self._lock:
            if index not in self.pending:
                return False
            self.pending.remove(index)
            self.pending.insert(0, index)
            return True

    def shows(self, analysis: Analysis) -> bool:
        """Whether `analysis` is (a state of) the image on the page."""
        return self.analysis is not None and self.analysis.explanation.pixel_values is analysis.explanation.pixel_values

    def add(self, analysis: Analysis, maps: ClassMaps) -> Analysis | None:
        """Adds one class's maps to the image on the page (unless it has them), takes it off the
        pending list; None, and nothing changed, when `analysis` is not that image."""
        return self.merge(analysis, {maps.index: maps})

    def merge(self, analysis: Analysis, classes: dict[int, ClassMaps], extra_passes: tuple[int, ...] = ()) -> Analysis | None:
        """Adds the classes the image on the page lacks (a class it has is kept as it is) and
        records extra passes; None when `analysis` is not the image on the page."""

        def change(explanation: Explanation) -> Explanation:
            added = {i: maps for i, maps in classes.items() if i not in explanation.classes}
            self.pending = [i for i in self.pending if i not in classes]
            return replace(explanation, classes={**explanation.classes, **added},
                           extra_passes=explanation.extra_passes + tuple(i for i in extra_passes if i in added))

        return self._update(analysis, change)

    def add_maps(self, analysis: Analysis, maps: dict) -> Analysis | None:
        """Merges more of the maps that are not class-specific (rollout's other head fusions) into
        the image on the page; None when `analysis` is not that image."""
        return self._update(analysis, lambda explanation: replace(explanation, maps=merge_maps(explanation.maps, maps)))

    def _update(self, analysis: Analysis, change: Callable[[Explanation], Explanation]) -> Analysis | None:
        """The image on the page with its explanation changed, under the lock; None when
        `analysis` is not that image."""
        with self._lock:
            if not self.shows(analysis):
                return None
            self.analysis = replace(self.analysis, explanation=change(self.analysis.explanation))
            return self.analysis
