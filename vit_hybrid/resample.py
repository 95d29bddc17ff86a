"""Pillow's separable resampling, computed only for a window of the output.

A 10000x8 strip resized to a shortest edge of 384 becomes 480000x384 before the centre crop keeps
384x384 of it. Pillow's `box` argument cannot give the crop exactly (it rounds the box to float32
and changes the order of the two passes), so this redoes Pillow's `Resample.c` (the same
double-precision filter weights, the same 22-bit fixed-point sums, the same pass order, Pillow 10
to 13) for the window only. The tests check it against Pillow's own full resize.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import PIL
import PIL.Image

Resampling = PIL.Image.Resampling

#
# The filters, weights and fixed-point arithmetic below follow Pillow's src/libImaging/Resample.c
# (10 to 13) operation by operation, in double precision, so that the integer weights come out identical.

_PRECISION_BITS = 32 - 8 - 2
# Pillow 13 runs the vertical pass first when the height shrinks more than twice the width; before, never.
_VERTICAL_PASS_MAY_COME_FIRST = int(PIL.__version__.split(".")[0]) >= 13
_HAMMING_A = float(np.float32(0.54))  # C float literals 0.54f and 0.46f
_HAMMING_B = float(np.float32(0.46))


def _box_filter(x: float) -> float:
    return 1.0 if -0.5 < x <= 0.5 else 0.0


def _bilinear_filter(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


def _hamming_filter(x: float) -> float:
    x = abs(x)
    if x == 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    x = x * math.pi
    return math.sin(x) / x * (_HAMMING_A + _HAMMING_B * math.cos(x))


def _bicubic_filter(x: float) -> float:
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos_filter(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


def _mks2013_filter(x: float) -> float:
    x = abs(x)
    if x < 0.5:
        return 17.0 / 16.0 - 7.0 / 4.0 * math.pow(x, 2)
    if x < 1.5:
        return (1.0 - x) * (7.0 / 4.0 - x)
    if x < 2.5:
        return -1.0 / 8.0 * math.pow(x - 5.0 / 2.0, 2)
    return 0.0


def _mks2021_filter(x: float) -> float:
    x = abs(x)
    if x < 0.5:
        return (576.0 + 1.0) / 576.0 - 239.0 / 144.0 * math.pow(x, 2)
    if x < 1.5:
        return 35.0 / 36.0 * (x - 1.0) * (x - 239.0 / 140.0)
    if x < 2.5:
        return 1.0 / 6.0 * (x - 2.0) * (65.0 / 24.0 - x)
    if x < 3.5:
        return 1.0 / 36.0 * (x - 3.0) * (x - 15.0 / 4.0)
    if x < 4.5:
        return -1.0 / 288.0 * math.pow(x - 9.0 / 2.0, 2)
    return 0.0


_FILTERS: dict[int, tuple[Callable[[float], float], float]] = {
    Resampling.BOX: (_box_filter, 0.5),
    Resampling.BILINEAR: (_bilinear_filter, 1.0),
    Resampling.HAMMING: (_hamming_filter, 1.0),
    Resampling.BICUBIC: (_bicubic_filter, 2.0),
    Resampling.LANCZOS: (_lanczos_filter, 3.0),
}
if hasattr(Resampling, "MKS2013"):  # Pillow 13
    _FILTERS[Resampling.MKS2013] = (_mks2013_filter, 2.5)
    _FILTERS[Resampling.MKS2021] = (_mks2021_filter, 4.5)


def _filter_taps(resample: int, in_size: int, out_size: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for outputs `start..stop-1` only.

    Returns the first input index of each output and its int32 fixed-point weights
    (shape `(stop - start, ksize)`, zero past each output's support).
    """
    kernel, support = _FILTERS[resample]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = math.ceil(support) * 2 + 1
    centers = (np.arange(start, stop) + 0.5) * scale
    first = np.maximum(np.trunc(centers - support + 0.5), 0).astype(np.int64)
    count = np.minimum(np.trunc(centers + support + 0.5), in_size).astype(np.int64) - first
    offsets = first[:, None] + np.arange(ksize)
    weights = np.vectorize(kernel, otypes=[np.float64])(((offsets - centers[:, None]) + 0.5) * (1.0 / filterscale))
    weights[np.arange(ksize) >= count[:, None]] = 0.0
    total = np.zeros(len(centers))
    for column in weights.T:  # summed in Pillow's order, not numpy's pairwise order
        total += column
    nonzero = total != 0.0
    weights[nonzero] /= total[nonzero, None]
    scaled = weights * (1 << _PRECISION_BITS)
    fixed = np.trunc(np.where(weights < 0, scaled - 0.5, scaled + 0.5)).astype(np.int32)
    return first, fixed


def _convolve(image: np.ndarray, axis: int, first: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One 8-bit resampling pass along `axis` (Pillow's `ImagingResample{Horizontal,Vertical}_8bpc`)."""
    out_shape = list(image.shape)
    out_shape[axis] = len(first)
    weight_shape = [1] * image.ndim
    weight_shape[axis] = len(first)
    total = np.full(out_shape, 1 << (_PRECISION_BITS - 1), dtype=np.int32)
    for tap in range(weights.shape[1]):
        index = np.minimum(first + tap, image.shape[axis] - 1)  # past the support the weight is 0
        total += np.take(image, index, axis=axis).astype(np.int32) * weights[:, tap].reshape(weight_shape)
    return np.clip(total >> _PRECISION_BITS, 0, 255).astype(np.uint8)


def _nearest_indices(in_size: int, out_size: int, start: int, stop: int) -> np.ndarray:
    """Source index of outputs `start..stop-1` for NEAREST (Pillow's `ImagingScaleAffine`).

    Pillow adds the step once per output pixel, so the positions are accumulated the same way,
    in chunks to keep memory small. Out-of-image positions are -1.
    """
    step = in_size / out_size
    positions = np.empty(stop - start)
    value = step * 0.5
    chunk = 1 << 16
    for begin in range(0, stop, chunk):
        run = np.full(min(chunk, stop - begin), step)
        run[0] = value
        run = np.add.accumulate(run)
        lo, hi = max(start, begin), min(stop, begin + len(run))
        if lo < hi:
            positions[lo - start : hi - start] = run[lo - begin : hi - begin]
        value = run[-1] + step
    index = np.where(positions < 0, -1, np.trunc(positions)).astype(np.int64)
    return np.where(index < in_size, index, -1)


def can_resize_window(resample: int) -> bool:
    """Whether `resize_window` reproduces this Pillow filter (those of Pillow 10 to 13)."""
    return resample == Resampling.NEAREST or resample in _FILTERS


def resize_window(
    image: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int], resample: int
) -> np.ndarray:
    """Equal to `np.asarray(PIL.Image.fromarray(image).resize(size[::-1], resample))` cropped to
    `box`, without computing the pixels outside `box`.

    Args:
        image: `(height, width, channels)` uint8 array, 1 or 3 channels.
        size: `(height, width)` of the full resized image.
        box: `(left, top, right, bottom)` window inside the resized image.
        resample: A `PIL.Image.Resampling` filter.

    Returns:
        The `(bottom - top, right - left, channels)` uint8 window.
    """
    height, width = image.shape[:2]
    out_h, out_w = size
    left, top, right, bottom = box
    if resample == Resampling.NEAREST:
        rows = _nearest_indices(height, out_h, top, bottom)
        cols = _nearest_indices(width, out_w, left, right)
        window = image[rows[:, None], cols[None, :]]
        window[(rows < 0)[:, None] | (cols < 0)[None, :]] = 0
        return window

    vertical = _filter_taps(resample, height, out_h, top, bottom) if out_h != height else None
    horizontal = _filter_taps(resample, width, out_w, left, right) if out_w != width else None

    def span(taps: tuple[np.ndarray, np.ndarray] | None, start: int, stop: int) -> tuple[int, int]:
        if taps is None:
            return start, stop
        first, weights = taps
        return int(first.min()), int((first + weights.shape[1]).max())

    row0, row1 = span(vertical, top, bottom)
    col0, col1 = span(horizontal, left, right)
    image = image[row0:row1, col0:col1]
    passes = [(1, horizontal, col0), (0, vertical, row0)]
    if _VERTICAL_PASS_MAY_COME_FIRST and height - out_h > 0 and height - out_h > (width - out_w) * 2:
        passes.reverse()
    for axis, taps, origin in passes:
        if taps is not None:
            image = _convolve(image, axis, taps[0] - origin, taps[1])
    return image
