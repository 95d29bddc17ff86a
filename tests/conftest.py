"""Shared test helpers: where the fixtures are, and reading the reference's recorded outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"


def reference_io(case: str) -> dict[str, torch.Tensor]:
    """Inputs and outputs the reference recorded for a fixture model."""
    return load_file(MODELS / case / "io.safetensors")


def reference_case(case: str) -> dict:
    return json.loads((MODELS / case / "case.json").read_text())


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def load_photo(name: str) -> np.ndarray:
    """One of the test photographs as RGB uint8 (H, W, 3)."""
    return np.asarray(Image.open(FIXTURES / "images" / name).convert("RGB"))


@pytest.fixture(scope="module")
def model() -> ViTHybridForImageClassification:
    """The small reference-saved classifier (64 px input, 4x4 tokens, 5 labels)."""
    return ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")


@pytest.fixture(scope="module")
def processor() -> ViTHybridImageProcessor:
    """A processor for that model: shortest edge and crop 64, mean = std = 0.5."""
    return ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64, image_mean=0.5, image_std=0.5)
