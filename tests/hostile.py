"""A corpus of hostile and odd uploads, generated (never downloaded): each case is a file name, its
bytes, and either the message its refusal must contain or a check of the decoded picture.

    python -m tests.hostile OUT_DIR     # writes the corpus, to try it by hand in the page
"""

from __future__ import annotations

import argparse
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.paths import EXAMPLES


@dataclass(frozen=True)
class Case:
    """An upload. `message`: what its refusal must say; else `check(picture)` holds on the
    decoded RGB picture (an (H, W, 3) uint8 array)."""

    name: str
    data: bytes
    message: str | None = None
    check: Callable[[np.ndarray], bool] | None = None


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height 1-bit pixels and carries almost none: a bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")


def png_with_text_bomb() -> bytes:
    """An 8x8 PNG whose zTXt chunk inflates to 50 MB (about 50 kB on disk)."""
    png = encode(Image.new("RGB", (8, 8), (10, 200, 30)), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 50_000_000, 9))
    return png[:33] + bomb + png[33:]  # right after IHDR


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((220, 20, 20), (20, 220, 20), (20, 20, 220))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated() -> bytes:
    """A 64x32 JPEG, red left half, stored with EXIF orientation 6 (shown turned clockwise)."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32] = (230, 30, 30)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif, quality=95)


def is_colour(rgb: tuple[int, int, int], tolerance: int = 12) -> Callable[[np.ndarray], bool]:
    return lambda picture: bool(np.abs(picture.reshape(-1, 3).mean(0) - rgb).max() <= tolerance)


def corpus() -> list[Case]:
    photo = (EXAMPLES / "chelsea.png").read_bytes()
    jpeg = (EXAMPLES / "coffee.jpg").read_bytes()
    coffee = Image.open(EXAMPLES / "coffee.jpg").convert("RGB")
    sixteen_rgb = np.full((16, 16, 3), 257 * 128, np.uint16)  # half brightness in 16 bits
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    palette.info["transparency"] = 0
    rgba = Image.new("RGBA", (16, 16), (0, 0, 255, 0))  # fully transparent blue
    return [
        Case("truncated.png", photo[: len(photo) // 2], message="PNG file is truncated"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 3], message="JPEG file is truncated"),
        Case("empty.png", b"", message="empty (0 bytes)"),
        Case("notes.png", b"Dear diary,\nthis is not a picture.\n", message="is a text file, not an image"),
        Case("page.jpg", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", message="is an HTML page"),
        Case("drawing.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', message="vector images are not supported"),
        Case("paper.jpg", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n", message="is a PDF document"),
        Case("bomb.png", png_header_only(100_000, 100_000), message="too large (10000 megapixels"),
        Case("text-bomb.png", png_with_text_bomb(), message="decompression bomb"),
        Case("sixteen-bit.png", encode(Image.fromarray(sixteen_rgb[..., 0]), "PNG"), check=is_colour((128, 128, 128), 1)),
        Case("sixteen-bit-rgb.png", encode_16bit_rgb(sixteen_rgb), check=is_colour((128, 128, 128), 1)),
        Case("one-bit.png", encode(Image.new("1", (16, 16), 1), "PNG"), check=is_colour((255, 255, 255), 0)),
        Case("float.tiff", encode(Image.fromarray(np.full((16, 16), 0.25, np.float32), "F"), "TIFF"), check=is_colour((64, 64, 64), 1)),
        Case("cmyk.jpg", encode(coffee.convert("CMYK"), "JPEG", quality=95), check=lambda p: p.shape == (400, 600, 3)),
        Case("progressive.jpg", encode(coffee, "JPEG", progressive=True, quality=90), check=lambda p: p.shape == (400, 600, 3)),
        Case("palette-transparent.png", encode(palette, "PNG"), check=is_colour((250, 10, 10), 0)),
        Case("rgba-transparent.png", encode(rgba, "PNG"), check=is_colour((255, 255, 255), 0)),
        Case("exif-rotated.jpg", exif_rotated(), check=lambda p: p.shape[:2] == (64, 32) and p[:32].mean() > p[32:].mean() + 60),
        Case("animated.gif", animated("GIF"), check=is_colour((220, 20, 20), 12)),
        Case("animated.webp", animated("WEBP"), check=is_colour((220, 20, 20), 12)),
        Case("one-pixel.png", encode(Image.new("RGB", (1, 1), (9, 99, 199)), "PNG"), check=is_colour((9, 99, 199), 0)),
        Case("strip.png", encode(Image.new("RGB", (10000, 8), (50, 60, 70)), "PNG"), check=lambda p: p.shape == (8, 10000, 3)),
        Case("grey.png", encode(Image.new("L", (20, 10), 77), "PNG"), check=is_colour((77, 77, 77), 0)),
        Case("../../../../tmp/evil name ünï.png", photo, check=lambda p: p.shape == (300, 451, 3)),
        Case("%2e%2e%2f%2e%2e%2fetc%2fpasswd.png", photo, check=lambda p: p.shape == (300, 451, 3)),
    ]


def encode_16bit_rgb(values: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): written chunk by chunk."""
    height, width, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def write_corpus(out: Path) -> dict[str, str | None]:
    """Writes the corpus into `out` (names numbered, without their folders); file name -> the
    message its refusal must contain, or None for a file that decodes."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for n, case in enumerate(corpus()):
        name = f"{n:02d}-{Path(case.name).name}"
        (out / name).write_bytes(case.data)
        written[name] = case.message
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.hostile", description="Writes the hostile upload corpus.")
    parser.add_argument("out", type=Path, help="the folder to write it into")
    write_corpus(parser.parse_args().out)
