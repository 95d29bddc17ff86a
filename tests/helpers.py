"""What many tests share: where the fixtures are, reading the reference's recorded outputs, a Hub
cache laid out by hand, the example photos as arrays or as a folder with the hostile corpus,
Chromium for the browser tests, and a time limit."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from explorer.paths import BUNDLED, EXAMPLES, ROOT
from tests.hostile import write_corpus

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")  # the bundled model's classes, as the page shows them

__all__ = ["BUNDLED", "EXAMPLES", "FIXTURES", "MODELS", "ROOT", "SHAPES", "example_folder", "load_photo", "make_hub_cache",
           "reference_case", "reference_io", "time_limit"]


def reference_io(case: str) -> dict[str, torch.Tensor]:
    """Inputs and outputs the reference recorded for a fixture model."""
    return load_file(MODELS / case / "io.safetensors")


def reference_case(case: str) -> dict:
    return json.loads((MODELS / case / "case.json").read_text())


def make_hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """Lays out `folder` in `cache` as huggingface_hub caches `repo_id` (one snapshot on main)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    return repo


def load_photo(name: str) -> np.ndarray:
    """One of the example photographs as RGB uint8 (H, W, 3)."""
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))


def example_folder(root: Path) -> dict[str, str | None]:
    """The example images in root and the hostile corpus in root/hostile/; each file's path
    relative to root -> the message its refusal must contain (None for a file that decodes)."""
    expected: dict[str, str | None] = {}
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(EXAMPLES.glob("*")):
        if path.suffix in (".jpg", ".png"):
            shutil.copy(path, root / path.name)
            expected[path.name] = None
    expected.update({f"hostile/{name}": message for name, message in write_corpus(root / "hostile").items()})
    return expected


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raises TimeoutError in the main thread if the block takes longer than `seconds`."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
