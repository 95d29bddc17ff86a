"""The training command, a few steps at a time: scenes from scratch, an image folder from a
checkpoint with another number of labels; both save checkpoints that load like the Hub's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import MODELS, ROOT
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

pytestmark = pytest.mark.slow  # trains models


def main(args: list[str]) -> None:
    """Runs the training command, as a user would."""
    subprocess.run([sys.executable, "-m", "scripts.train", *args], check=True, cwd=ROOT, timeout=600)


def test_scenes_from_scratch(tmp_path):
    main(["--out", str(tmp_path), "--size", "64", "--width", "1", "--train-scenes", "96", "--val-scenes", "32",
          "--epochs", "1", "--batch", "32", "--warmup", "0.4", "--device", "cpu"])
    model = ViTHybridForImageClassification.from_pretrained(tmp_path)
    processor = ViTHybridImageProcessor.from_pretrained(tmp_path)
    assert model.config.id2label[5] == "ring" and model.config.image_size == 64
    assert model(processor(np.zeros((64, 64, 3), np.uint8), return_tensors="pt")["pixel_values"]).logits.shape == (1, 6)


def test_image_folder_from_a_checkpoint_with_other_labels(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("apples", "pears"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    out = tmp_path / "model"
    main(["--out", str(out), "--data", str(tmp_path / "data"), "--init", str(MODELS / "same_padding"),
          "--epochs", "2", "--batch", "4", "--device", "cpu"])
    model = ViTHybridForImageClassification.from_pretrained(out)
    assert model.config.id2label == {0: "apples", 1: "pears"}  # was 5 labels
    start = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    assert not torch.equal(model.vit.encoder.layer[0].output.dense.weight, start.vit.encoder.layer[0].output.dense.weight)
