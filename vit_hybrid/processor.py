"""Image preprocessing for ViT-Hybrid, without transformers.

`ViTHybridImageProcessor` gives the same numbers as transformers' deprecated
`ViTHybridImageProcessor` (4.46): resizing is done by Pillow, on the same uint8 image the reference
builds, then a centre crop, rescaling and normalisation in the same dtypes. When the resized image
would be much larger than the crop (a 10000x8 strip), only the crop's window is resampled
(`resample.resize_window`, exact), so time and memory are bounded by the crop.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Union

import numpy as np
import PIL
import PIL.Image

from .files import PROCESSOR_CONFIG_NAME
from .geometry import CropGeometry, crop_geometry
from .jsonfile import find_json, json_text, read_json, save_in, write_json
from .transforms import (
    ImageTransforms,
    as_hwc,
    in_layout,
    normalized,
    padded,
    rescaled,
    resize_pixels,
    size_dict,
    stats,
)

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

Resampling = PIL.Image.Resampling
ImageInput = Union[PIL.Image.Image, np.ndarray, "torch.Tensor", Sequence[Any]]  # noqa: F821



# --------------------------------------------------------------------------- inputs


def _is_torch_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _split_images(images: ImageInput) -> list[Any]:
    """A list of single images (PIL images, 3-D arrays or tensors) from any accepted input."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images is empty: pass at least one image.")
        return list(images)
    if isinstance(images, PIL.Image.Image):
        return [images]
    if isinstance(images, np.ndarray) or _is_torch_tensor(images):
        if images.ndim == 4:
            return list(images)
        if images.ndim == 3:
            return [images]
        raise ValueError(
            f"An image array must have 3 dimensions (one image) or 4 (a batch), got shape {tuple(images.shape)}. "
            "Give grayscale arrays a channel axis: (H, W, 1) or (1, H, W)."
        )
    raise TypeError(
        f"images must be a PIL image, a numpy array, a torch tensor, or a list of those; got {type(images).__name__}."
    )


def _to_hwc(image: Any, do_convert_rgb: bool, input_data_format: str | None) -> tuple[np.ndarray, str]:
    """One image as an `(H, W, C)` array and its input channel layout (see `as_hwc`)."""
    if isinstance(image, PIL.Image.Image):
        if do_convert_rgb and image.mode != "RGB":
            image = image.convert("RGB")
        if image.mode not in ("RGB", "L"):
            raise ValueError(f"PIL images in mode {image.mode!r} need do_convert_rgb=True.")
        array = np.array(image)
        return (array if array.ndim == 3 else array[..., None]), "channels_last"
    if _is_torch_tensor(image):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Each image must be a PIL image, a numpy array or a torch tensor; got {type(image).__name__}.")
    if image.ndim != 3:
        raise ValueError(
            f"Each image in a list must have 3 dimensions, (H, W, C) or (C, H, W); got shape {image.shape}."
        )
    return as_hwc(image, input_data_format)


# --------------------------------------------------------------------------- outputs


class BatchFeature(dict):
    """The processor's output: a dict holding `"pixel_values"`, also readable as an attribute."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        """Call `.to(*args, **kwargs)` on every torch tensor (device or dtype moves)."""
        return BatchFeature({k: v.to(*args, **kwargs) if _is_torch_tensor(v) else v for k, v in self.items()})


def _batch(images: list[np.ndarray], return_tensors: str | None) -> list[np.ndarray] | np.ndarray | Any:
    if return_tensors is None:
        return images
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(
            f"Cannot stack images of different shapes {sorted(shapes)} into one tensor: "
            "keep do_center_crop=True or use return_tensors=None."
        )
    stacked = np.stack(images)
    if return_tensors == "np":
        return stacked
    import torch

    return torch.from_numpy(stacked)


# --------------------------------------------------------------------------- processor


@dataclass(frozen=True)
class Settings:
    """What one call of `preprocess` does: the processor's settings with that call's overrides."""

    do_resize: bool
    size: dict[str, int]
    resample: Resampling
    do_center_crop: bool
    crop_size: dict[str, int]
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: float | list[float]
    image_std: float | list[float]
    do_convert_rgb: bool

    def geometry(self, height: int, width: int) -> CropGeometry:
        """Where the output of an image of `height` x `width` pixels lies in it."""
        return crop_geometry(height, width, self.size if self.do_resize else None,
                             self.crop_size if self.do_center_crop else None)


SETTINGS = tuple(f.name for f in fields(Settings))
# How a setting is checked and put in its stored form; the others are kept as given.
_NORMAL_FORM: dict[str, Callable[[Any], Any]] = {
    "size": lambda value: size_dict(value, "size", square=False),
    "crop_size": lambda value: size_dict(value, "crop_size", square=True),
    "resample": Resampling,
    "image_mean": stats,
    "image_std": stats,
}


def _normal(name: str, value: Any) -> Any:
    return _NORMAL_FORM.get(name, lambda v: v)(value)


class ViTHybridImageProcessor(ImageTransforms):
    """Resize, centre-crop, rescale and normalise images for ViT-Hybrid, like transformers' class.

    The defaults are those of the reference code: images are resized so that their shortest edge
    is 224 (bicubic), centre-cropped to 224×224, scaled by 1/255 and normalised with the
    OpenAI CLIP mean and std. (The reference's docstring says ImageNet mean/std; its code uses
    CLIP's, and so does this class.) Checkpoints on the Hub override these values through their
    `preprocessor_config.json`, e.g. 384/384 and mean = std = 0.5 for google/vit-hybrid-base-bit-384.

    Args:
        do_resize: Whether to resize.
        size: `{"shortest_edge": n}` (keep the aspect ratio) or `{"height": h, "width": w}`;
            an int means a shortest edge. Defaults to `{"shortest_edge": 224}`.
        resample: A `PIL.Image.Resampling` filter (or its int value).
        do_center_crop: Whether to centre-crop (zero-padding where the image is smaller).
        crop_size: `{"height": h, "width": w}`; an int means a square. Defaults to 224×224.
        do_rescale: Whether to multiply pixel values by `rescale_factor`.
        rescale_factor: The scale factor, 1/255 by default.
        do_normalize: Whether to normalise with `image_mean` and `image_std`.
        image_mean: Per-channel mean (or one value for all channels). Defaults to OPENAI_CLIP_MEAN.
        image_std: Per-channel std (or one value for all channels). Defaults to OPENAI_CLIP_STD.
        do_convert_rgb: Whether to convert PIL images of other modes (L, RGBA, P, CMYK...) to RGB.
        **kwargs: Other configuration keys (e.g. "processor_class"); kept and saved as they are.
    """

    model_input_names: ClassVar[list[str]] = ["pixel_values"]

    def __init__(
        self,
        do_resize: bool = True,
        size: int | Sequence[int] | Mapping[str, int] | None = None,
        resample: int = Resampling.BICUBIC,
        do_center_crop: bool = True,
        crop_size: int | Sequence[int] | Mapping[str, int] | None = None,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_convert_rgb: bool = True,
        **kwargs: Any,
    ) -> None:
        given = locals()  # the settings' parameters, by name
        defaults = {"size": {"shortest_edge": 224}, "crop_size": 224, "image_mean": OPENAI_CLIP_MEAN,
                    "image_std": OPENAI_CLIP_STD}
        for name in SETTINGS:
            setattr(self, name, _normal(name, defaults[name] if given[name] is None else given[name]))
        kwargs.pop("image_processor_type", None)
        self.extra_config: dict[str, Any] = kwargs

    def crop_geometry(
        self,
        image_size: tuple[int, int],
        do_resize: bool | None = None,
        size: int | Sequence[int] | Mapping[str, int] | None = None,
        do_center_crop: bool | None = None,
        crop_size: int | Sequence[int] | Mapping[str, int] | None = None,
    ) -> CropGeometry:
        """Where `preprocess` takes its output from, for an image of `image_size = (height, width)`.

        Note that a PIL image's `.size` is `(width, height)`. The optional arguments override the
        processor's settings like in `preprocess`.
        """
        chosen = self.settings(do_resize=do_resize, size=size, do_center_crop=do_center_crop, crop_size=crop_size)
        return chosen.geometry(*image_size)

    def settings(self, **overrides: Any) -> Settings:
        """The processor's settings with the `overrides` that are not None checked and in place:
        where `preprocess` and `crop_geometry` resolve their arguments."""
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise TypeError(f"not a processor setting: {', '.join(unknown)}")
        return Settings(**{name: getattr(self, name) if overrides.get(name) is None else _normal(name, overrides[name])
                           for name in SETTINGS})

    def preprocess(
        self,
        images: ImageInput,
        do_resize: bool | None = None,
        size: int | Sequence[int] | Mapping[str, int] | None = None,
        resample: int | None = None,
        do_center_crop: bool | None = None,
        crop_size: int | Sequence[int] | Mapping[str, int] | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_normalize: bool | None = None,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_convert_rgb: bool | None = None,
        return_tensors: str | None = None,
        data_format: str | None = "channels_first",
        input_data_format: str | None = None,
        return_geometry: bool = False,
    ) -> BatchFeature:
        """Preprocess one image or a batch.

        Args:
            images: A PIL image, an `(H, W, C)` or `(C, H, W)` array or tensor (C = 1 or 3,
                values in [0, 255], or floats in [0, 1] with `do_rescale=False`), a 4-D batch of
                those, or a list. PIL images are always read as channels last.
            do_resize, size, resample, do_center_crop, crop_size, do_rescale, rescale_factor,
                do_normalize, image_mean, image_std, do_convert_rgb: Override the settings for this call.
            return_tensors: None for a list of numpy arrays, "np" for one stacked array, "pt" for
                a torch tensor.
            data_format: "channels_first" or "channels_last" output; None keeps each image's layout.
            input_data_format: Layout of array/tensor inputs; inferred when None (channels first
                when the first axis has 1 or 3 entries).
            return_geometry: Also return "geometry", one `CropGeometry` per image: where its
                output lies in the original image (off by default, so that the output can be
                passed to the model as `model(**output)`).

        Returns:
            A `BatchFeature` with "pixel_values" (and "geometry" when asked). Values are float32
            after rescaling or normalisation; with both off the dtype of the pixels is kept, as in
            the reference.
        """
        chosen = self.settings(**{name: value for name, value in locals().items() if name in SETTINGS})  # this call's
        if data_format not in ("channels_first", "channels_last", None):
            raise ValueError(f"data_format must be 'channels_first', 'channels_last' or None; got {data_format!r}.")
        if return_tensors not in (None, "np", "pt"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pt'; got {return_tensors!r}.")

        arrays = [_to_hwc(image, chosen.do_convert_rgb, input_data_format) for image in _split_images(images)]
        first = arrays[0][0]
        if chosen.do_rescale and first.dtype != np.uint8 and first.min() >= 0 and first.max() <= 1:
            logger.warning(
                "The images look already rescaled to [0, 1] and do_rescale=True will divide them by 255 again; "
                "pass do_rescale=False if they are in [0, 1]."
            )

        outputs, geometries = [], []
        for image, layout in arrays:
            geometry = chosen.geometry(*image.shape[:2])
            geometries.append(geometry)
            if chosen.do_resize:
                image = resize_pixels(image, geometry, chosen.resample, cropped=chosen.do_center_crop)
            elif chosen.do_center_crop:
                left, top, right, bottom = geometry.visible_box
                image = image[top:bottom, left:right]
            if chosen.do_center_crop:
                image = padded(image, geometry.padding)
            if chosen.do_rescale:
                image = rescaled(image, chosen.rescale_factor)
            if chosen.do_normalize:
                image = normalized(image, chosen.image_mean, chosen.image_std)
            outputs.append(in_layout(image, data_format or layout))
        if return_geometry:
            return BatchFeature(pixel_values=_batch(outputs, return_tensors), geometry=geometries)
        return BatchFeature(pixel_values=_batch(outputs, return_tensors))

    __call__ = preprocess

    # ----------------------------------------------------------------------- configuration

    def to_dict(self) -> dict[str, Any]:
        """The configuration in `preprocessor_config.json` form."""
        return {
            **copy.deepcopy(self.extra_config),
            "do_resize": self.do_resize,
            "size": dict(self.size),
            "resample": int(self.resample),
            "do_center_crop": self.do_center_crop,
            "crop_size": dict(self.crop_size),
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_normalize": self.do_normalize,
            "image_mean": copy.copy(self.image_mean),
            "image_std": copy.copy(self.image_std),
            "do_convert_rgb": self.do_convert_rgb,
            "image_processor_type": type(self).__name__,
        }

    def to_json_string(self) -> str:
        """The configuration as JSON, formatted like transformers writes it."""
        return json_text(self.to_dict())

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write the configuration to `path` as JSON."""
        write_json(path, self.to_dict())

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        """Write `preprocessor_config.json` into `save_directory` (created if needed; a path that
        is a file is refused).

        Returns:
            The paths of the written files, as transformers returns them (one, here).
        """
        return [save_in(save_directory, PROCESSOR_CONFIG_NAME, self.to_dict())]

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], **overrides: Any) -> ViTHybridImageProcessor:
        """Build a processor from a configuration dict; keyword arguments override its entries."""
        return cls(**{**config, **overrides})

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> ViTHybridImageProcessor:
        """Build a processor from a `preprocessor_config.json` file."""
        return cls.from_dict(read_json(path))

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> ViTHybridImageProcessor:
        """Load a processor from a local folder, a JSON file or a Hub repository id.

        Args:
            name_or_path: A folder holding `preprocessor_config.json`, the path of such a file, or
                a Hub model id such as "google/vit-hybrid-base-bit-384".
            **kwargs: The Hub options (`vit_hybrid.resolve.HUB_OPTIONS`) say where the file is;
                the others replace its settings.
        """
        return cls.from_dict(find_json(name_or_path, PROCESSOR_CONFIG_NAME, kwargs), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def square_processor(size: int) -> ViTHybridImageProcessor:
    """The Hub model's preprocessing at another input size: shortest edge to `size`, centre crop
    `size` x `size`, pixels mapped to [-1, 1] (mean = std = 0.5)."""
    return ViTHybridImageProcessor(size={"shortest_edge": size}, crop_size=size, image_mean=0.5, image_std=0.5)


def processor_or_square(name_or_path: str | os.PathLike, image_size: int, **hub: Any) -> ViTHybridImageProcessor:
    """The checkpoint's processor, or for a checkpoint without a usable preprocessor_config.json
    the Hub model's preprocessing at the model's `image_size` (`square_processor`), with a warning.
    A preprocessor_config.json that is there but broken still raises."""
    from .resolve import CheckpointError

    try:
        return ViTHybridImageProcessor.from_pretrained(name_or_path, **hub)
    except CheckpointError:
        logger.warning("%s has no usable preprocessor_config.json: using mean = std = 0.5 at %d px", name_or_path,
                       image_size)
        return square_processor(image_size)
