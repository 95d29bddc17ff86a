"""The map controls' values, defined once: the page's control components are named after these
fields, and handlers receive them as one `Controls`."""

from __future__ import annotations

from dataclasses import dataclass, fields

from explain import MapChoice

from .analysis import Analysis

COLORMAPS = ("inferno", "viridis", "magma", "turbo", "jet", "gray")
MEAN_OF_HEADS = -1  # the head control's value for the mean over heads


@dataclass(frozen=True)
class Controls(MapChoice):
    """What the visitor chose: which map (a `MapChoice`, as the page sends it: the head control
    says MEAN_OF_HEADS for the mean, and values may lie outside the model's ranges) and how it is
    drawn (colormap, opacity)."""

    colormap: str = COLORMAPS[0]
    opacity: float = 0.6

    def choice(self, analysis: Analysis) -> MapChoice:
        """The map these controls name, clamped to the analysis's model (layers, heads, stages)."""
        explanation = analysis.explanation
        layer = explanation.layers if self.layer is None else int(self.layer)
        head = None if self.head is None or not 0 <= int(self.head) < explanation.heads else int(self.head)
        return MapChoice(
            method=self.method,
            layer=min(max(1, layer), explanation.layers),
            head=head,
            fusion=self.fusion,
            stage=self.stage if self.stage in explanation.stages else None,
            class_index=None if self.class_index is None else int(self.class_index),
        )


CONTROL_NAMES = tuple(f.name for f in fields(Controls))
