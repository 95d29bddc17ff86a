"""Shared test helpers: where the fixtures are, and reading the reference's recorded outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

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
