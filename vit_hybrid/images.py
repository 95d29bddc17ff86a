"""Decoding an uploaded file into an upright RGB picture, or a message a person can act on.

An upload can be anything: a photo, a truncated PNG, a PDF renamed to .jpg, a decompression bomb.
`load_image` reads the header first and refuses what is too large before decoding any pixels,
decodes once, turns the picture upright (EXIF orientation), takes the first frame of an
animation, and brings every mode (16-bit, 1-bit, float, palette, CMYK, transparency) to 8-bit RGB.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageOps
import PIL.PngImagePlugin

MAX_PIXELS = 40_000_000
FORMATS = "JPEG, PNG, GIF, WebP, BMP or TIFF"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}  # those formats' files
_SIGNATURES = (  # what a file that is not an image most often is, by its first bytes
    (b"%pdf", "a PDF document"),
    (b"<svg", "an SVG drawing (vector images are not supported: export it as PNG or JPEG)"),
    (b"<?xml", "an XML or SVG file (vector images are not supported: export it as PNG or JPEG)"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"pk\x03\x04", "a ZIP archive (or an Office document)"),
)


class ImageError(ValueError):
    """A file that cannot be shown to the model; the message says what is wrong with it."""


def _describe(head: bytes) -> str:
    """What a file that Pillow cannot open seems to be, from its first bytes."""
    if head[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos (iPhones), or video
        return "This file is an HEIC/AVIF photo or a video, which this app cannot read: export it as JPEG or PNG."
    text = head.lstrip().lower()
    for signature, name in _SIGNATURES:
        if text.startswith(signature):
            return f"This file is {name}, not an image."
    decoded = head.decode("utf-8", errors="ignore")  # a sample may end inside a character
    if len(head) - len(decoded.encode()) > 3 or any(c < " " and c not in "\t\n\r" for c in decoded):
        return "This file is not an image file that can be read (an unknown format, or damaged)."
    return "This file is a text file, not an image."


def _to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """8-bit RGB: high bit depths scaled (not clipped), transparency laid over white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        if image.mode == "F":  # float TIFFs: [0, 1] as is, anything else stretched to fit
            low, high = (0.0, 1.0) if values.min() >= 0 and values.max() <= 1 else (values.min(), values.max())
        else:  # integer images: 16-bit unless every value fits in 8
            low, high = 0.0, 65535.0 if values.max() > 255 else 255.0
        scaled = (values - low) / max(high - low, 1e-12) * 255
        image = PIL.Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "LA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        white = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        return PIL.Image.alpha_composite(white, image).convert("RGB")
    return image.convert("RGB")


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raises `ImageError` for an image with no pixels or more than `max_pixels`."""
    if width <= 0 or height <= 0:
        raise ImageError(f"The image is empty ({width}×{height} pixels).")
    if width * height > max_pixels:
        raise ImageError(
            f"The image is too large ({width * height / 1e6:.0f} megapixels: {width}×{height} pixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels. Please upload a smaller image."
        )


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> PIL.Image.Image:
    """An uploaded file (path or bytes) as an upright RGB image; `ImageError` says what is wrong.

    The size is checked from the header before any pixel is decoded, so a decompression bomb
    costs nothing. Animated images give their first frame.
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as err:
            raise ImageError(f"The file could not be read ({err.strerror or err}).") from None
    if not data:
        raise ImageError("The file is empty (0 bytes): there is no image in it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)  # our own limit follows
            image = PIL.Image.open(io.BytesIO(data))
    except PIL.Image.DecompressionBombError as err:  # Pillow's own guard, before it tells the size
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""  # Pillow gives no sides
        raise ImageError(
            f"The image is too large{size}; the limit is {max_pixels / 1e6:.0f} megapixels. Please upload a smaller image."
        ) from None
    except ValueError as err:
        if "Decompressed data too large" in str(err):  # Pillow's guard on PNG text chunks
            raise ImageError(
                "This PNG file carries a text chunk that would decompress to more than "
                f"{PIL.PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MB (a decompression bomb), so it was refused."
            ) from None
        raise ImageError(f"{_describe(data[:64])} Please upload a {FORMATS} image.") from None
    except (PIL.UnidentifiedImageError, OSError, SyntaxError):
        raise ImageError(f"{_describe(data[:64])} Please upload a {FORMATS} image.") from None
    check_size(*image.size, max_pixels=max_pixels)
    try:
        image.seek(0)  # the first frame of an animation
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        reason = "truncated" if "truncated" in str(err) else "damaged"
        raise ImageError(
            f"The {image.format or 'image'} file is {reason} and cannot be decoded ({err}). "
            "Please upload the complete file."
        ) from None
    try:
        upright = PIL.ImageOps.exif_transpose(image)
    except Exception:  # broken EXIF: keep the stored orientation rather than refuse the photo
        upright = image
    return _to_rgb(upright)


def check_array(image: np.ndarray, max_pixels: int | None = None) -> np.ndarray:
    """An (H, W, 3) array of pixel values on the 0-255 scale, as given; `ImageError` naming what
    is wrong otherwise (shape, type, no pixels or more than `max_pixels`, NaN or infinite
    values, values outside [0, 255])."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(f"An image array must be (height, width, 3) RGB; this one has shape {tuple(array.shape)}.")
    check_size(array.shape[1], array.shape[0], array.size if max_pixels is None else max_pixels)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageError(f"An image array must hold integers or floats; this one holds {array.dtype}.")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ImageError("The image array holds NaN or infinite values.")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise ImageError(f"Pixel values must lie in [0, 255]; this array holds values from {low:g} to {high:g}.")
    return array


def image_files(folder: Path) -> list[Path]:
    """Every file with an image extension under `folder` (recursively), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
