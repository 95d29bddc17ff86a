"""Where the processor's resize and centre crop put the model input inside the original image.

Explanations use it to draw maps back onto the user's own picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CropGeometry:
    """Where the processed image (the model input) lies in the original image.

    Boxes are `(left, top, right, bottom)` in pixel-edge coordinates: `(0, 0, w, h)` covers a
    whole `w`×`h` image, and pixel `(x, y)` spans `[x, x + 1) × [y, y + 1)`.

    Attributes:
        original_size: `(height, width)` of the input image.
        resized_size: `(height, width)` after resizing (the original size if not resized).
        crop_box: The processed image's extent in resized-image pixels. It reaches outside the
            resized image where the crop is larger than the image; that part is zero padding.
        original_box: `crop_box` mapped to original-image pixels (floats).
        padding: Zero columns/rows added on each side, `(left, top, right, bottom)`.
    """

    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop_box: tuple[int, int, int, int]
    original_box: tuple[float, float, float, float]
    padding: tuple[int, int, int, int]

    @property
    def output_size(self) -> tuple[int, int]:
        """`(height, width)` of the processed image."""
        left, top, right, bottom = self.crop_box
        return bottom - top, right - left

    @property
    def visible_box(self) -> tuple[int, int, int, int]:
        """The part of `crop_box` inside the resized image, `(left, top, right, bottom)`."""
        left, top, right, bottom = self.crop_box
        height, width = self.resized_size
        return max(left, 0), max(top, 0), min(right, width), min(bottom, height)


def resized_size(height: int, width: int, size: Mapping[str, int]) -> tuple[int, int]:
    """The reference's output size: the shortest edge to `size["shortest_edge"]`, the long edge
    truncated, or exactly `(size["height"], size["width"])`."""
    if "shortest_edge" in size:
        target = size["shortest_edge"]
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(target * long / short)
        return (new_long, target) if width <= height else (target, new_long)
    return size["height"], size["width"]


def crop_geometry(
    height: int, width: int, size: Mapping[str, int] | None, crop_size: Mapping[str, int] | None
) -> CropGeometry:
    """Where the reference's resize (`size`, None for none) and centre crop (`crop_size`, None for
    none) put the processed image, for an image of `height` x `width` pixels."""
    resized_h, resized_w = resized_size(height, width, size) if size else (height, width)
    crop_h, crop_w = (crop_size["height"], crop_size["width"]) if crop_size else (resized_h, resized_w)
    top, left = (resized_h - crop_h) // 2, (resized_w - crop_w) // 2
    right, bottom = left + crop_w, top + crop_h
    return CropGeometry(
        original_size=(height, width),
        resized_size=(resized_h, resized_w),
        crop_box=(left, top, right, bottom),
        original_box=(
            left * width / resized_w,
            top * height / resized_h,
            right * width / resized_w,
            bottom * height / resized_h,
        ),
        padding=(max(-left, 0), max(-top, 0), max(right - resized_w, 0), max(bottom - resized_h, 0)),
    )
