"""The processor's steps on one image array: the channel layout, resizing through Pillow, the
centre crop with zero padding, rescaling and normalisation, each in the reference's dtypes, and
`ImageTransforms`, which offers them as transformers' image processors do (`resize`,
`center_crop`, `rescale`, `normalize`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import PIL.Image

from .geometry import CropGeometry, crop_geometry
from .resample import can_resize_window, resize_window

Resampling = PIL.Image.Resampling
LAYOUTS = ("channels_first", "channels_last")

# Resize only the cropped window when the full resized image has this many times the crop's pixels.
_CROP_FIRST_MIN_RATIO = 4


def as_hwc(image: np.ndarray, input_data_format: str | None) -> tuple[np.ndarray, str]:
    """A 3-D array as `(H, W, C)` and its layout: the one given, else inferred as the reference
    does. C is 1 or 3, or 4 (RGBA, CMYK...) when the layout is given, as in the reference."""
    layout = input_data_format or _infer_layout(image.shape)
    if layout not in LAYOUTS:
        raise ValueError(f"input_data_format must be 'channels_first' or 'channels_last', got {layout!r}.")
    array = image.transpose(1, 2, 0) if layout == "channels_first" else image
    if array.shape[-1] not in ((1, 3, 4) if input_data_format else (1, 3)):
        raise ValueError(
            f"Images must have 1 or 3 channels (or 4, with input_data_format given); got {array.shape[-1]} in an "
            f"image of shape {image.shape} read as {layout}."
        )
    return array, layout


def in_layout(image: np.ndarray, layout: str) -> np.ndarray:
    """An `(H, W, C)` array in `layout`."""
    if layout not in LAYOUTS:
        raise ValueError(f"data_format must be 'channels_first' or 'channels_last'; got {layout!r}.")
    return np.ascontiguousarray(image.transpose(2, 0, 1) if layout == "channels_first" else image)


def _infer_layout(shape: tuple[int, ...]) -> str:
    """The reference's rule: channels first if the first axis has 1 or 3 entries, else last."""
    if shape[0] in (1, 3):
        return "channels_first"
    if shape[-1] in (1, 3):
        return "channels_last"
    raise ValueError(
        f"Cannot find the channel axis of an image of shape {shape}: expected 1 or 3 channels, first or last. "
        "Pass input_data_format for other channel counts (e.g. RGBA)."
    )


def uint8_for_pil(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """The uint8 pixels the reference hands to Pillow, and whether it scaled [0, 1] floats by 255.

    Integer-valued arrays in [0, 255] are cast as they are, other arrays in [0, 1] are multiplied
    by 255 and truncated, anything else is refused (transformers' `to_pil_image` rules).
    """
    if image.dtype == np.uint8:
        return image, False
    if np.allclose(image, image.astype(int)):
        if image.min() < 0 or image.max() > 255:
            raise ValueError(
                f"Integer-valued images must lie in [0, 255] to be resized, got [{image.min()}, {image.max()}]."
            )
        return image.astype(np.uint8), False
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"Non-integer images must lie in [0, 1] to be resized, got [{image.min()}, {image.max()}].")
    return (image.astype(np.float64) * 255).astype(np.float32).astype(np.uint8), True


def padded(image: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad an `(H, W, C)` image by `(left, top, right, bottom)`."""
    if not any(padding):
        return image
    left, top, right, bottom = padding
    height, width, channels = image.shape
    padded = np.zeros((top + height + bottom, left + width + right, channels), dtype=image.dtype)
    padded[top : top + height, left : left + width] = image
    return padded


def size_dict(value: int | Sequence[int] | Mapping[str, int], name: str, square: bool) -> dict[str, int]:
    """Check and normalise `size` (`square=False`) or `crop_size` (`square=True`).

    An int is a shortest edge for `size` and a square for `crop_size`; a pair is `(height, width)`.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value} if square else {"shortest_edge": value}
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = {"height": value[0], "width": value[1]}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict, an int or a (height, width) pair; got {value!r}.")
    allowed = [{"height", "width"}] if square else [{"shortest_edge"}, {"height", "width"}]
    if set(value) not in allowed:
        expected = " or ".join(str(sorted(keys)) for keys in allowed)
        raise ValueError(f"{name} must have the keys {expected}; got {sorted(value)}.")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
        raise ValueError(f"{name} values must be positive integers; got {dict(value)}.")
    return dict(value)


def rescaled(image: np.ndarray, factor: float) -> np.ndarray:
    """`image * factor` in float64, as float32 (the reference's dtypes)."""
    return (image.astype(np.float64) * factor).astype(np.float32)


def stats(value: float | Sequence[float]) -> float | list[float]:
    return [float(v) for v in value] if isinstance(value, (Sequence, np.ndarray)) else float(value)


def normalized(image: np.ndarray, mean: float | list[float], std: float | list[float]) -> np.ndarray:
    """`(image - mean) / std` per channel, in float32 (or the image's own float dtype)."""
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    channels = image.shape[-1]
    for name, value in (("image_mean", mean), ("image_std", std)):
        if isinstance(value, list) and len(value) != channels:
            raise ValueError(f"{name} has {len(value)} values but the image has {channels} channel(s).")
    mean = np.broadcast_to(np.asarray(mean, dtype=image.dtype), (channels,))
    std = np.broadcast_to(np.asarray(std, dtype=image.dtype), (channels,))
    return (image - mean) / std


def resize_pixels(image: np.ndarray, geometry: CropGeometry, resample: int, cropped: bool) -> np.ndarray:
    """An `(H, W, C)` image resized like the reference (through Pillow, on uint8 pixels), cut to
    the geometry's visible crop when `cropped`."""
    pixels, scaled = uint8_for_pil(image)
    out_h, out_w = geometry.resized_size
    left, top, right, bottom = geometry.visible_box
    crop_first = (
        cropped
        and can_resize_window(resample)
        and pixels.shape[-1] != 4  # Pillow resizes RGBA with premultiplied alpha
        and out_h * out_w > _CROP_FIRST_MIN_RATIO * (bottom - top) * (right - left)
    )
    if crop_first:
        resized = resize_window(pixels, (out_h, out_w), geometry.visible_box, resample)
    else:
        pil = PIL.Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        resized = np.array(pil.resize((out_w, out_h), resample=resample))
        resized = resized.reshape(out_h, out_w, -1)[top:bottom, left:right]
    return (resized.astype(np.float64) * (1 / 255)).astype(np.float32) if scaled else resized


class ImageTransforms:
    """transformers' per-image steps on a numpy array. The output keeps the input's layout unless
    `data_format` names one; `input_data_format` is inferred when None (as in `preprocess`)."""

    def resize(
        self,
        image: np.ndarray,
        size: Mapping[str, int],
        resample: int = Resampling.BICUBIC,
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Resizes to `{"shortest_edge": n}` (the long edge truncated) or `{"height", "width"}`."""
        pixels, layout = as_hwc(np.asarray(image), input_data_format)
        geometry = crop_geometry(*pixels.shape[:2], size_dict(size, "size", square=False), None)
        return in_layout(resize_pixels(pixels, geometry, Resampling(resample), cropped=False), data_format or layout)

    def center_crop(
        self,
        image: np.ndarray,
        size: Mapping[str, int],
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """The centre `{"height", "width"}` window, zero-padded where it is larger than the image."""
        pixels, layout = as_hwc(np.asarray(image), input_data_format)
        geometry = crop_geometry(*pixels.shape[:2], None, size_dict(size, "size", square=True))
        left, top, right, bottom = geometry.visible_box
        return in_layout(padded(pixels[top:bottom, left:right], geometry.padding), data_format or layout)

    def rescale(
        self,
        image: np.ndarray,
        scale: float,
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """`image * scale`, computed in float64 and returned as float32."""
        pixels, layout = as_hwc(np.asarray(image), input_data_format)
        return in_layout(rescaled(pixels, scale), data_format or layout)

    def normalize(
        self,
        image: np.ndarray,
        mean: float | Sequence[float],
        std: float | Sequence[float],
        data_format: str | None = None,
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """`(image - mean) / std` per channel, in float32 (or the image's own float dtype)."""
        pixels, layout = as_hwc(np.asarray(image), input_data_format)
        return in_layout(normalized(pixels, stats(mean), stats(std)), data_format or layout)
