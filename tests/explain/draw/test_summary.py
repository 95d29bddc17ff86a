"""A map's peak in original-image pixels and its quadrant shares, by hand."""

from __future__ import annotations

import pytest
import torch

from explain.draw.summary import summarise_map
from vit_hybrid.geometry import CropGeometry


def box(original_size: tuple[int, int], original_box: tuple[float, float, float, float]) -> CropGeometry:
    return CropGeometry(original_size, original_size, (0, 0, 1, 1), original_box, (0, 0, 0, 0))


def test_cells_inside_one_quadrant_each():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    summary = summarise_map(values, box((100, 100), (0, 0, 100, 100)))
    assert summary["peak"] == {"x": 75.0, "y": 75.0}  # the centre of the bottom-right cell
    assert summary["quadrants"] == pytest.approx({"top_left": 0.1, "top_right": 0.2, "bottom_left": 0.3, "bottom_right": 0.4})


def test_a_cell_on_the_midlines_is_split_by_area_and_negative_values_do_not_count():
    values = torch.zeros(3, 3)
    values[1, 1] = 4.0  # the centre cell of a 90 x 90 image: a quarter in each quadrant
    values[0, 2] = 4.0  # wholly top right
    values[2, 0] = -7.0
    summary = summarise_map(values, box((90, 90), (0, 0, 90, 90)))
    assert summary["peak"] == {"x": 75.0, "y": 15.0}  # the first maximum, row by row: the top-right cell
    assert summary["quadrants"] == pytest.approx({"top_left": 1 / 8, "top_right": 5 / 8, "bottom_left": 1 / 8,
                                                   "bottom_right": 1 / 8})


def test_the_crop_box_places_the_cells_in_the_original_image():
    # a 100 x 200 (h x w) picture, the model saw the square from x = 50 to 150: the map's left
    # column covers x 50..100 (left of the midline at 100), its right column 100..150
    values = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
    summary = summarise_map(values, box((100, 200), (50, 0, 150, 100)))
    assert summary["peak"] == {"x": 75.0, "y": 75.0}
    assert summary["quadrants"] == pytest.approx({"top_left": 0.0, "top_right": 0.25, "bottom_left": 0.75, "bottom_right": 0.0})
    shifted = summarise_map(torch.tensor([[1.0, 1.0]]), box((10, 200), (20, 0, 120, 10)))
    # cells x 20..70 and 70..120 of a 200-wide picture: 50 + 30 of the mass left of x = 100
    assert shifted["quadrants"]["top_left"] + shifted["quadrants"]["bottom_left"] == pytest.approx(0.8)


def test_a_map_without_positive_mass_has_no_peak():
    summary = summarise_map(-torch.ones(4, 4), box((8, 8), (0, 0, 8, 8)))
    assert summary == {"peak": None, "quadrants": dict.fromkeys(summary["quadrants"], 0.0)}
