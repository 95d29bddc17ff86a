"""Maps back onto the user's own image: normalise, place through the crop geometry, colour, blend.

Images are RGB uint8 (H, W, 3) in and out. A map covers the region of the original image that the
model saw (the crop); outside it the image is shown dimmed, never stretched. Output is drawn at a
display size whatever the original's size: the longest side between MIN_DISPLAY_SIDE and
`max_side` (aspect kept), a very thin picture letterboxed to MIN_THIN_SIDE.
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from vit_hybrid.geometry import CropGeometry

DISPLAY_SIDE = 1024  # overlays are drawn with their longest side at most this, whatever the upload's size
MIN_DISPLAY_SIDE = 512  # and at least this: a small picture is scaled up (aspect kept), never left tiny
MIN_THIN_SIDE = 64  # a very thin picture is letterboxed so that its shorter side is at least this
LETTERBOX = 128  # the grey of the letterbox bands


def normalize(values: torch.Tensor) -> torch.Tensor:
    """Min-max scaling to [0, 1]; a constant (e.g. all-zero) map becomes all zeros, never NaN."""
    values = torch.nan_to_num(values.float(), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = values.min(), values.max()
    if high <= low:
        return torch.zeros_like(values)
    return (values - low) / (high - low)


def display_size(size: tuple[int, int], max_side: int = DISPLAY_SIDE, min_side: int = MIN_DISPLAY_SIDE
                 ) -> tuple[int, int]:
    """(height, width) scaled, aspect kept, so that the longest side lies between `min_side` (or
    `max_side`, if smaller) and `max_side`: large pictures shrink, small ones grow."""
    height, width = size
    longest = max(height, width)
    scale = min(max(longest, min(min_side, max_side)), max_side) / longest
    return max(1, round(height * scale)), max(1, round(width * scale))


def letterbox(image: np.ndarray, min_side: int = MIN_THIN_SIDE) -> np.ndarray:
    """The picture centred on grey bands so that neither side is below `min_side` (a 1024 x 1
    strip stays visible); unchanged when both sides already reach it."""
    height, width = image.shape[:2]
    if min(height, width) >= min_side:
        return image
    out = np.full((max(height, min_side), max(width, min_side), 3), LETTERBOX, dtype=np.uint8)
    top, left = (out.shape[0] - height) // 2, (out.shape[1] - width) // 2
    out[top : top + height, left : left + width] = image
    return out


def place(values: torch.Tensor, geometry: CropGeometry, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples a grid map (h, w) at every pixel of the original image drawn at `size` (H, W).

    The map is stretched over the crop (bilinear, as resizing it to the model input would), then
    read where each display pixel's centre falls. Returns the values (H, W), zero outside the
    crop, and a mask of the pixels inside it.
    """
    height, width = size
    orig_h, orig_w = geometry.original_size
    left, top, right, bottom = geometry.original_box
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) * orig_h / height  # original pixel coords
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) * orig_w / width
    v = (ys - top) / (bottom - top) * 2 - 1  # crop coords in [-1, 1] (align_corners=False)
    u = (xs - left) / (right - left) * 2 - 1
    sample = torch.stack(torch.meshgrid(v, u, indexing="ij")[::-1], dim=-1).float()  # (H, W, 2) as (x, y)
    mapped = F.grid_sample(values.float()[None, None], sample[None], mode="bilinear", padding_mode="border",
                           align_corners=False)[0, 0]
    inside = (v.abs() <= 1)[:, None] & (u.abs() <= 1)[None, :]
    return mapped.masked_fill(~inside, 0.0), inside


@functools.lru_cache(maxsize=32)
def _lookup_table(colormap: str) -> torch.Tensor:
    """The colormap's own N colours as RGB uint8 (N, 3), rounded as `colorize` rounds."""
    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r}") from None
    return torch.from_numpy((cmap(np.arange(cmap.N))[:, :3] * 255 + 0.5).astype(np.uint8))


def colorize(values: torch.Tensor, colormap: str = "inferno") -> np.ndarray:
    """Values in [0, 1] (H, W) -> RGB uint8 (H, W, 3) through a matplotlib colormap.

    Indexes the colormap's table as matplotlib's `Colormap.__call__` does (floor of value * N,
    1.0 to the last colour), without its per-call float RGBA conversion: same colours, several
    times faster on a megapixel map.
    """
    table = _lookup_table(colormap)
    index = (values.float().clamp(0, 1) * len(table)).long().clamp_(max=len(table) - 1)
    return table[index].numpy()


def display_picture(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The picture (RGB uint8) resized, bilinearly, to `size` (H, W); itself when it has that size."""
    if image.shape[:2] == size:
        return image
    return np.asarray(PIL.Image.fromarray(image).resize(size[::-1], PIL.Image.Resampling.BILINEAR))


def overlay(
    image: np.ndarray,
    values: torch.Tensor,
    geometry: CropGeometry,
    colormap: str = "inferno",
    opacity: float = 0.5,
    max_side: int = DISPLAY_SIDE,
    dim: float = 0.4,
) -> np.ndarray:
    """The map blended onto the original image (RGB uint8 (H, W, 3)), outside the crop dimmed.

    An empty map (constant, e.g. a class with no positive evidence) leaves the crop undrawn.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    size = display_size(image.shape[:2], max_side)
    base = torch.tensor(display_picture(image, size), dtype=torch.float32)
    values = normalize(values)
    mapped, inside = place(values, geometry, size)
    alpha = opacity if bool(values.max() > 0) else 0.0
    colours = torch.from_numpy(colorize(mapped, colormap)).float()
    blended = torch.where(inside[..., None], base * (1 - alpha) + colours * alpha, base * dim)
    return letterbox(blended.add_(0.5).clamp_(0, 255).to(torch.uint8).numpy())


def heatmap(values: torch.Tensor, geometry: CropGeometry, colormap: str = "inferno", max_side: int = DISPLAY_SIDE) -> np.ndarray:
    """The bare coloured map of the region the model saw, at that region's size in the original
    image (longest side at most `max_side`); RGB uint8."""
    left, top, right, bottom = geometry.original_box
    size = display_size((max(1, round(bottom - top)), max(1, round(right - left))), max_side, min_side=0)
    mapped = F.interpolate(normalize(values)[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return colorize(mapped, colormap)


def mark_crop(image: np.ndarray, geometry: CropGeometry, max_side: int = DISPLAY_SIDE, dim: float = 0.4) -> np.ndarray:
    """The original image at display size with the region the model did not see dimmed."""
    size = display_size(image.shape[:2], max_side)
    _, inside = place(torch.zeros(1, 1), geometry, size)
    shade = np.where(inside.numpy(), 1.0, dim)[..., None]
    return letterbox(np.clip(display_picture(image, size).astype(np.float32) * shade + 0.5, 0, 255).astype(np.uint8))
