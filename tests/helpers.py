"""What many tests share: where the fixtures are, reading the reference's recorded outputs, a Hub
cache laid out by hand, and the example photos as arrays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from explorer.paths import BUNDLED, EXAMPLES, ROOT

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")  # the bundled model's classes, as the page shows them

__all__ = ["BUNDLED", "EXAMPLES", "FIXTURES", "MODELS", "ROOT", "SHAPES", "load_photo", "make_hub_cache", "reference_case",
           "reference_io"]


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
