"""Shared test helpers: where the fixtures are, and reading the reference's recorded outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = ROOT / "assets" / "examples"
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


def make_hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """Lays out `folder` in `cache` as huggingface_hub caches `repo_id` (one snapshot on main)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    return repo


def load_photo(name: str) -> np.ndarray:
    """One of the test photographs as RGB uint8 (H, W, 3)."""
    return np.asarray(Image.open(EXAMPLES / name).convert("RGB"))


@pytest.fixture(scope="module")
def model() -> ViTHybridForImageClassification:
    """The small reference-saved classifier (64 px input, 4x4 tokens, 5 labels)."""
    return ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")


@pytest.fixture(scope="module")
def processor() -> ViTHybridImageProcessor:
    """A processor for that model: shortest edge and crop 64, mean = std = 0.5."""
    return ViTHybridImageProcessor(size={"shortest_edge": 64}, crop_size=64, image_mean=0.5, image_std=0.5)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> str:
    """The real app, started offline with an empty Hub cache (so on the bundled model)."""
    from app_server import offline_env, running_app

    root = tmp_path_factory.mktemp("app")
    with running_app([], offline_env(root / "hub", GRADIO_TEMP_DIR=str(root / "gradio")), root / "app.log") as url:
        url.temp_dir = root / "gradio"  # where Gradio keeps uploads
        yield url
