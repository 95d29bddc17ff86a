"""Labelled shape scenes with object masks: ground truth for training and for judging explanations.

Each scene is a textured, noisy background crossed by clutter strokes, with one shape (circle,
square, triangle, star, cross, ring) of random colour, size, position and rotation. Colours are
drawn independently of the class, so the class cannot be read off colour or position. A scene comes
with its class, the object's pixels and its filled silhouette (a ring's whole disc). Everything is
deterministic from (seed, index). The seeds have fixed jobs (`TRAIN_SEED` ... `EXAMPLES_SEED`), so
that no scene is used for two of them.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

TRAIN_SEED, VALIDATION_SEED, TUNING_SEED, TEST_SEED, EXAMPLES_SEED = 1, 2, 3, 4, 5
CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
SUPERSAMPLE = 4  # shapes are drawn at 4x and averaged down: anti-aliased edges
NOISE_STD = 28.0  # pixel noise, of 255
MIN_STROKES = 3


@dataclass(frozen=True)
class Scene:
    """image: (S, S, 3) uint8 RGB; label: class index; obj / silhouette: (S, S) bool masks."""

    image: np.ndarray
    label: int
    obj: np.ndarray
    silhouette: np.ndarray


def region(scene: Scene, tolerance: int) -> torch.Tensor:
    """The scene's filled silhouette dilated by `tolerance` pixels (a square neighbourhood), (S, S)
    bool: where a map's peak counts as pointing at the object."""
    mask = torch.from_numpy(scene.silhouette)
    return torch.nn.functional.max_pool2d(mask.float()[None, None], 2 * tolerance + 1, 1, tolerance)[0, 0] > 0


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape of circumradius r."""
    if kind == "square":
        radii, count = [r], 4
    elif kind == "triangle":
        radii, count = [r], 3
    elif kind == "star":
        radii, count = [r, 0.45 * r], 10
    else:  # cross: a plus sign of arm half-width 0.32 r
        w = 0.32
        pts = [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w), (-w, 1)]
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts]
    return [
        (cx + radii[i % len(radii)] * math.cos(angle + 2 * math.pi * i / count),
         cy + radii[i % len(radii)] * math.sin(angle + 2 * math.pi * i / count))
        for i in range(count)
    ]


def _shape_masks(kind: str, size: int, cx: float, cy: float, r: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased coverage (S, S) float in [0, 1] of the object and of its filled silhouette."""
    big = size * SUPERSAMPLE
    scale = SUPERSAMPLE
    obj, sil = Image.new("L", (big, big)), Image.new("L", (big, big))
    for canvas, inner in ((obj, kind == "ring"), (sil, False)):
        draw = ImageDraw.Draw(canvas)
        if kind in ("circle", "ring"):
            draw.ellipse([(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale], fill=255)
            if inner:
                k = 0.55 * r
                draw.ellipse([(cx - k) * scale, (cy - k) * scale, (cx + k) * scale, (cy + k) * scale], fill=0)
        else:
            draw.polygon([(x * scale, y * scale) for x, y in _polygon(kind, cx, cy, r, angle)], fill=255)
    return _box_mean(obj), _box_mean(sil)


def _box_mean(mask: Image.Image) -> np.ndarray:
    """Averages SUPERSAMPLE x SUPERSAMPLE blocks of an 8-bit mask into coverage in [0, 1], float32.

    The block sums are exact integers, so this equals a float32 mean over the blocks bit for bit,
    at a fraction of its cost."""
    pixels = np.asarray(mask, dtype=np.uint16)
    rows = sum(pixels[i::SUPERSAMPLE] for i in range(SUPERSAMPLE))  # strided adds: far faster than a
    sums = sum(rows[:, i::SUPERSAMPLE] for i in range(SUPERSAMPLE)).astype(np.float32)  # 2-axis reduce
    return sums / np.float32(SUPERSAMPLE * SUPERSAMPLE) / np.float32(255)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random texture around a random base colour, (S, S, 3) float."""
    base = rng.uniform(0, 255, 3)
    coarse = rng.normal(0, 40, (4, 4, 3)).astype(np.float32)
    texture = np.stack([np.asarray(Image.fromarray(coarse[..., c]).resize((size, size), Image.Resampling.BICUBIC))
                        for c in range(3)], axis=-1)
    return base + texture


def _strokes(rng: np.random.Generator, image: np.ndarray, count: int) -> np.ndarray:
    """Draws `count` clutter lines from one border of the scene to another."""
    size = image.shape[0]
    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(count):
        a, b = rng.uniform(0, size, 2)
        side = rng.integers(0, 2)
        ends = [(0, a), (size, b)] if side == 0 else [(a, 0), (b, size)]
        draw.line(ends, fill=tuple(int(v) for v in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 4)))
    return np.asarray(canvas, dtype=np.float32)


def _object_colour(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """A random colour, redrawn until it differs clearly from the background under the shape."""
    for _ in range(100):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - around).sum() > 150:
            return colour
    return 255 - around


def make_scene(seed: int, index: int, size: int = 128) -> Scene:
    """Scene number `index` of the stream `seed` (the same pair always gives the same scene)."""
    rng = np.random.default_rng([seed, index])
    label = int(rng.integers(len(CLASSES)))
    kind = CLASSES[label]
    r = rng.uniform(0.10, 0.20) * size
    cx, cy = rng.uniform(r + 1, size - r - 1, 2)
    angle = rng.uniform(0, 2 * math.pi)
    image = _strokes(rng, _background(rng, size), MIN_STROKES + int(rng.integers(0, 3)))
    coverage, silhouette = _shape_masks(kind, size, cx, cy, r, angle)
    colour = _object_colour(rng, image[silhouette > 0.5].mean(axis=0))
    image = image * (1 - coverage[..., None]) + colour * coverage[..., None]
    image = image + rng.normal(0, NOISE_STD, image.shape)
    return Scene(np.clip(np.rint(image), 0, 255).astype(np.uint8), label, coverage > 0.5, silhouette > 0.5)


def _image_and_label(args: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    scene = make_scene(*args)
    return scene.image, scene.label


def make_batch(seed: int, start: int, count: int, size: int = 128, processes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) uint8 and labels (N,) of scenes start .. start + count - 1, drawn by
    `processes` worker processes; only images and labels are kept (masks are not)."""
    jobs = [(seed, i, size) for i in range(start, start + count)]
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    with contextlib.ExitStack() as stack:
        if processes > 1:
            results = stack.enter_context(multiprocessing.Pool(processes)).imap(_image_and_label, jobs, chunksize=64)
        else:
            results = map(_image_and_label, jobs)
        for i, (image, label) in enumerate(results):
            images[i], labels[i] = image, label
    return images, labels
