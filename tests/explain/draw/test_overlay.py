"""Overlays: maps land where the model looked, in RGB, at display size, dimmed outside the crop."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from explain.draw.overlay import colorize, display_size, heatmap, letterbox, mark_crop, normalize, overlay, place
from vit_hybrid import ViTHybridImageProcessor


@pytest.fixture
def wide() -> tuple[np.ndarray, object]:
    """A 100x200 grey image and the geometry of a 100x100 centre crop (x from 50 to 150)."""
    processor = ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64)
    return np.full((100, 200, 3), 100, dtype=np.uint8), processor.crop_geometry((100, 200))


def test_normalize_is_finite_for_constant_maps():
    assert torch.equal(normalize(torch.zeros(3, 3)), torch.zeros(3, 3))
    assert torch.equal(normalize(torch.full((2, 2), float("nan"))), torch.zeros(2, 2))
    torch.testing.assert_close(normalize(torch.tensor([1.0, 2.0, 3.0])), torch.tensor([0.0, 0.5, 1.0]))


def test_colours_are_rgb_not_bgr():
    # "autumn" runs from pure red (1, 0, 0) to yellow (1, 1, 0).
    assert colorize(torch.zeros(1, 1), "autumn")[0, 0].tolist() == [255, 0, 0]
    assert colorize(torch.ones(1, 1), "autumn")[0, 0].tolist() == [255, 255, 0]
    with pytest.raises(ValueError, match="unknown colormap"):
        colorize(torch.zeros(1, 1), "not-a-colormap")


@pytest.mark.parametrize("name", ["inferno", "viridis", "jet", "gray", "turbo"])
def test_colours_are_exactly_matplotlibs(name):
    values = torch.rand(300, 300)
    values[0, :3] = torch.tensor([0.0, 1.0, 0.5])
    want = (matplotlib.colormaps[name](values.numpy())[..., :3] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(colorize(values, name), want)


def test_a_pure_red_map_stays_red_in_a_full_opacity_overlay(wide):
    image, geometry = wide
    out = overlay(image, torch.zeros(4, 4).index_fill_(1, torch.tensor([0]), 1.0), geometry, "autumn", opacity=1.0)
    assert out.shape == (256, 512, 3)  # a small picture is drawn larger: 100 x 200 scaled by 2.56
    # Inside the crop the colour is the colormap's alone: red where the map is 0 ...
    assert out[128, 358].tolist() == [255, 0, 0]
    # ... and outside the crop the image is dimmed, never painted or stretched.
    assert out[128, 25].tolist() == [40, 40, 40]


def test_the_hot_spot_lands_on_the_crop_in_the_original(wide):
    image, geometry = wide
    values = torch.zeros(4, 4)
    values[0, 0] = 1.0  # the top-left token of the crop
    mapped, inside = place(values, geometry, (100, 200))
    row, col = divmod(int(mapped.flatten().argmax()), 200)
    assert row < 25 and 50 <= col < 75
    assert inside[:, 50:150].all() and not inside[:, :50].any() and not inside[:, 150:].any()


def test_empty_map_leaves_the_crop_as_it_was(wide):
    image, geometry = wide
    out = overlay(image, torch.zeros(4, 4), geometry, opacity=0.8)  # drawn at 2.56 x: the crop is columns 128-384
    assert (out[:, 128:384] == 100).all() and (out[:, :128] == 40).all()


def test_display_size_keeps_the_longest_side_between_512_and_1024():
    assert display_size((3000, 4000)) == (768, 1024)
    assert display_size((100, 200)) == (256, 512)  # small pictures grow, aspect kept
    assert display_size((1, 1)) == (512, 512)
    assert display_size((700, 600)) == (700, 600)
    assert display_size((100, 200), max_side=256) == (128, 256)  # thumbnails
    image = np.zeros((3000, 4000, 3), dtype=np.uint8)
    geometry = ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64).crop_geometry((3000, 4000))
    assert overlay(image, torch.rand(4, 4), geometry).shape == (768, 1024, 3)
    assert mark_crop(image, geometry).shape == (768, 1024, 3)
    left, top, right, bottom = geometry.original_box  # about 3012 wide, 3000 high
    assert heatmap(torch.rand(4, 4), geometry).shape == (round(1024 * (bottom - top) / (right - left)), 1024, 3)


def test_a_thin_picture_is_letterboxed_to_be_seen():
    strip = np.full((8, 10000, 3), 200, dtype=np.uint8)
    processor = ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64)
    out = overlay(strip, torch.rand(4, 4), processor.crop_geometry((8, 10000)))
    assert out.shape == (64, 1024, 3)  # 1024 x 1 drawn, on grey bands
    assert (out[:31] == 128).all() and (out[33:] == 128).all()
    assert letterbox(np.zeros((70, 70, 3), np.uint8)).shape == (70, 70, 3)


def test_opacity_is_checked(wide):
    with pytest.raises(ValueError, match="opacity"):
        overlay(*wide[:1], torch.rand(4, 4), wide[1], opacity=1.5)
