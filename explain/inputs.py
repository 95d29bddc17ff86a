"""What the model looks at: the centre crop it was trained on, or the whole uncropped image."""

from __future__ import annotations

import math

import numpy as np
import PIL.Image
import torch

from vit_hybrid import ViTHybridConfig, ViTHybridImageProcessor
from vit_hybrid.geometry import CropGeometry
from vit_hybrid.images import check_array

VIEWS = ("crop", "whole")
MAX_TOKENS = 1024


def whole_image_size(height: int, width: int, config: ViTHybridConfig, max_tokens: int = MAX_TOKENS) -> tuple[int, int]:
    """Input size for the whole image: the shortest edge at the model's training size, aspect kept,
    then scaled down until the token grid holds at most `max_tokens` (any shape fits, however long)."""
    scale = config.image_size / min(height, width)
    for _ in range(200):  # each try shrinks by 2%: bounded, and far more than any real image needs
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        tokens = math.prod(config.token_grid_for(*size))
        if tokens <= max_tokens:
            return size
        scale *= min(0.98, math.sqrt(max_tokens / tokens))
    raise ValueError(f"cannot fit a {height}x{width} image into {max_tokens} tokens")


def model_input(
    image: PIL.Image.Image | np.ndarray,
    processor: ViTHybridImageProcessor,
    config: ViTHybridConfig,
    view: str = "crop",
    max_tokens: int = MAX_TOKENS,
) -> tuple[torch.Tensor, CropGeometry]:
    """Pixel values (1, C, H, W) for the model and where they sit in the original image.

    Args:
        image: an RGB PIL image or (H, W, 3) array on the 0-255 scale (`ImageError`, a
            ValueError, names what is wrong with any other array).
        view: "crop", the processor's resize and centre crop; or "whole", the uncropped image with
            its shortest edge at config.image_size (aspect kept), within `max_tokens`.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if not isinstance(image, PIL.Image.Image):
        image = check_array(image.numpy() if isinstance(image, torch.Tensor) else image)
    height, width = (image.height, image.width) if isinstance(image, PIL.Image.Image) else image.shape[:2]
    if view == "crop":
        settings = {}
    else:
        settings = {"size": dict(zip(("height", "width"), whole_image_size(height, width, config, max_tokens))),
                    "do_resize": True, "do_center_crop": False}
    layout = None if isinstance(image, PIL.Image.Image) else "channels_last"  # (H, W, 3), never guessed
    out = processor.preprocess(image, return_tensors="pt", input_data_format=layout, return_geometry=True, **settings)
    return out["pixel_values"].float(), out["geometry"][0]
