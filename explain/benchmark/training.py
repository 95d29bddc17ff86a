"""Training a ViT-Hybrid classifier on generated shape scenes or on a folder of images: the scene
model's architecture, the data, and the loop that `python -m scripts.train` runs."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from vit_hybrid import BitConfig, ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.images import image_files

from .scenes import CLASSES


def scene_config(size: int, width: int = 1) -> ViTHybridConfig:
    """The bundled model's architecture: a BiT of three one-block stages (stride 16, "same"
    padding as the Hub model) under a 4-layer ViT; width 1 has about 0.35M parameters, width 2
    about 0.7M."""
    backbone = BitConfig(
        layer_type="bottleneck", global_padding="same", embedding_dynamic_padding=True, depths=[1, 1, 1],
        hidden_sizes=[32 * width, 64 * width, 128 * width], embedding_size=16 * width, num_groups=8,
        out_features=["stage3"],
    )
    grid = math.ceil(size / 16)
    hidden = 64 + 32 * width
    return ViTHybridConfig(
        backbone_config=backbone.to_dict(), hidden_size=hidden, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=2 * hidden, image_size=size, backbone_featmap_shape=[1, 128 * width, grid, grid],
        id2label=dict(enumerate(CLASSES)),
    )


def to_pixels(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, S, S, 3) uint8 scenes -> (N, 3, S, S) in [-1, 1]: the scene processor's output."""
    images = torch.as_tensor(images)
    return images.permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)


def folder_images(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """Every image under root/<class>/: paths, labels and the class names (sorted folder names)."""
    if not root.is_dir():
        raise SystemExit(f"{root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise SystemExit(f"{root} needs one sub-folder per class (found {len(classes)})")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = image_files(root / name)
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


def preprocess(paths: list[Path], processor: ViTHybridImageProcessor) -> torch.Tensor:
    """The model inputs (N, 3, H, W) of image files."""
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            pixels.append(processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0])
    return torch.stack(pixels)


def accuracy(model: ViTHybridForImageClassification, pixels: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy on model inputs, or on uint8 scenes (converted per batch)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            x = pixels[i : i + batch].to(model.device)
            x = to_pixels(x) if x.dtype == torch.uint8 else x
            correct += int((model(x).logits.argmax(-1).cpu() == labels[i : i + batch]).sum())
    return correct / len(labels)


def save(model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor, folder: Path) -> None:
    """Writes the model (float32, on the CPU) and its processor as a Hub-style folder."""
    device = model.device
    model.eval().cpu().save_pretrained(folder)
    processor.save_pretrained(folder)
    model.to(device)


def fit(
    model: ViTHybridForImageClassification,
    processor: ViTHybridImageProcessor,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    out: Path,
    *,
    epochs: int,
    batch: int,
    lr: float,
    warmup: float,
    weight_decay: float,
) -> float:
    """AdamW with a linear warm-up over a `warmup` share of the steps, then a cosine decay; random
    flips and quarter turns (shapes keep their class under both). Saves to `out` after every epoch
    (an interrupted run keeps its progress) and returns the last validation accuracy.

    `train` and `validation` are (inputs, labels); inputs are model inputs or uint8 scenes."""
    train_x, train_y = train
    steps = epochs * math.ceil(len(train_y) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rising = max(1, int(steps * warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / rising) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {steps} steps of {batch}", flush=True)
    start, score = time.time(), 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train_y))
        bar = tqdm(range(0, len(order), batch), desc=f"epoch {epoch}/{epochs}", mininterval=5)
        for i in bar:
            index = order[i : i + batch]
            x = train_x[index].to(model.device)
            x = to_pixels(x) if x.dtype == torch.uint8 else x
            flips = torch.rand(len(index), device=x.device) < 0.5
            x = torch.where(flips[:, None, None, None], x.flip(-1), x).rot90(int(torch.randint(4, ())), (-2, -1))
            loss = model(x, labels=train_y[index].to(model.device)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        score = accuracy(model, *validation)
        print(f"epoch {epoch}: validation accuracy {score:.4f} ({time.time() - start:.0f} s)", flush=True)
        save(model, processor, out)
    print(f"saved to {out}: {steps} steps, validation accuracy {score:.4f}")
    return score
