"""Decoding uploads: every bad file gets a message naming its problem; odd modes come out right."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.helpers import EXAMPLES
from vit_hybrid.images import ImageError, load_image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty (0 bytes)"),
        (b"just some notes\n", "is a text file, not an image"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "is an HTML page, not an image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "is an SVG drawing"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "is a PDF document, not an image"),
        (bytes(range(255, -1, -1)) * 4, "not an image file that can be read"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC/AVIF photo"),
        ("é".encode() * 40, "is a text file"),  # the 64-byte sample ends inside a character
        ((EXAMPLES / "chelsea.png").read_bytes()[:100_000], "PNG file is truncated"),
        ((EXAMPLES / "coffee.jpg").read_bytes()[:3000], "JPEG file is truncated"),
        (encode(Image.new("1", (20000, 20000))), "too large (400 megapixels"),
        (encode(Image.new("L", (8000, 6000))), "too large (48 megapixels: 8000×6000 pixels)"),
    ],
    ids=["empty", "text", "html", "svg", "pdf", "binary", "heic", "text-cut-character", "truncated-png", "truncated-jpeg", "bomb", "over-limit"],
)
def test_bad_files_name_their_problem(data, expected):
    with pytest.raises(ImageError, match=re.escape(expected)):
        load_image(data)


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ImageError, match="could not be read"):
        load_image(tmp_path / "nowhere.png")


def test_a_photo_decodes_to_the_same_pixels_as_pillow():
    path = EXAMPLES / "chelsea.png"
    np.testing.assert_array_equal(np.asarray(load_image(path)), np.asarray(Image.open(path).convert("RGB")))


def test_sixteen_bit_is_scaled_not_clipped():
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    image = load_image(encode(Image.fromarray(values)))  # an "I;16" PNG
    np.testing.assert_array_equal(np.asarray(image)[0, :, 0], [0, 128, 255])


def test_float_tiff_in_unit_range_is_scaled_by_255():
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    image = load_image(encode(Image.fromarray(values, "F"), "TIFF"))
    np.testing.assert_array_equal(np.asarray(image)[0, :, 0], [0, 128, 255])


def test_transparency_is_laid_over_white():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))
    np.testing.assert_array_equal(np.asarray(load_image(encode(rgba))), [[[255, 0, 0], [255, 255, 255]]])


def test_exif_orientation_makes_the_photo_upright():
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = image.getexif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    upright = load_image(encode(image, "JPEG", exif=exif))
    assert upright.size == (20, 40)


def test_an_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert load_image(data).getpixel((0, 0)) == (255, 0, 0)
