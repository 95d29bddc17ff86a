"""A map in a few numbers, for agents and reports: where its peak lies in the original image, and
how its positive mass splits between the image's four quadrants.

A map's cells tile the region the model saw (`CropGeometry.original_box`), in original-image
pixels. The peak is the centre of the cell holding the map's maximum (the first such cell, row
by row). A cell that straddles a midline gives each side the share of its area on that side.
"""

from __future__ import annotations

from typing import Any

import torch

from vit_hybrid.geometry import CropGeometry

QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")


def _before(edges: torch.Tensor, line: float) -> torch.Tensor:
    """Share of each cell (between consecutive `edges`) that lies before `line`."""
    return ((line - edges[:-1]) / (edges[1:] - edges[:-1])).clamp(0, 1)


def summarise_map(values: torch.Tensor, geometry: CropGeometry) -> dict[str, Any]:
    """The peak of a grid map (h, w) in original-image pixels ({"x", "y"}; None for a map with no
    positive value) and the share of its positive mass in each quadrant of the original image
    (zeros when it has none)."""
    values = torch.nan_to_num(values.detach().double().cpu())
    rows, columns = values.shape
    left, top, right, bottom = geometry.original_box
    height, width = geometry.original_size
    mass = values.clamp(min=0)
    total = float(mass.sum())
    if total <= 0:
        return {"peak": None, "quadrants": dict.fromkeys(QUADRANTS, 0.0)}
    row, column = divmod(int(values.flatten().argmax()), columns)
    peak = {"x": left + (column + 0.5) * (right - left) / columns, "y": top + (row + 0.5) * (bottom - top) / rows}
    upper = _before(torch.linspace(top, bottom, rows + 1, dtype=torch.float64), height / 2)  # (h,)
    leftward = _before(torch.linspace(left, right, columns + 1, dtype=torch.float64), width / 2)  # (w,)
    shares = [(mass * y[:, None] * x[None, :]).sum() / total
              for y in (upper, 1 - upper) for x in (leftward, 1 - leftward)]
    return {"peak": peak, "quadrants": {name: float(share) for name, share in zip(QUADRANTS, shares)}}
