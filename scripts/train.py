"""Trains a ViT-Hybrid image classifier on generated shape scenes or on a folder of images.

From scratch (the bundled model):
    python scripts/train.py --out assets/model
Fine-tuning any checkpoint, the Hub's included, on a folder with one sub-folder per class:
    python scripts/train.py --data my_images/ --init google/vit-hybrid-base-bit-384 --out my-model

The result is saved with save_pretrained, with its processor and label names, so it loads like any
Hub checkpoint: here and in transformers 4.46.3 alike.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.scenes import CLASSES, make_batch  # noqa: E402
from vit_hybrid import BitConfig, ViTHybridConfig, ViTHybridForImageClassification, ViTHybridImageProcessor  # noqa: E402
from vit_hybrid.hub import CheckpointError  # noqa: E402
from vit_hybrid.processor import square_processor  # noqa: E402

TRAIN_SEED, VALIDATION_SEED = 1, 2  # scene streams; 3 is kept for tuning, 4 for the final evaluation
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(path)
                labels.append(label)
    return paths, labels, classes


def preprocess(paths: list[Path], processor: ViTHybridImageProcessor) -> torch.Tensor:
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            pixels.append(processor(image.convert("RGB"), return_tensors="pt")["pixel_values"][0])
    return torch.stack(pixels)


def evaluate(model: ViTHybridForImageClassification, pixels: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            x = pixels[i : i + batch].to(model.device)
            x = to_pixels(x) if x.dtype == torch.uint8 else x
            correct += int((model(x).logits.argmax(-1).cpu() == labels[i : i + batch]).sum())
    return correct / len(labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to save the model in")
    parser.add_argument("--data", type=Path, help="image folder with one sub-folder per class (default: scenes)")
    parser.add_argument("--init", help="checkpoint to start from (folder or Hub id); default: from scratch")
    parser.add_argument("--size", type=int, default=128, help="scene and model input size (from scratch)")
    parser.add_argument("--width", type=int, default=2, choices=(1, 2), help="model width (from scratch)")
    parser.add_argument("--train-scenes", type=int, default=48_000)
    parser.add_argument("--val-scenes", type=int, default=1_000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=float, default=0.05, help="share of the steps over which the lr rises linearly")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.data:
        paths, labels, classes = folder_images(args.data)
    else:
        classes = list(CLASSES)
    id2label = dict(enumerate(classes))
    if args.init:
        model = ViTHybridForImageClassification.from_pretrained(args.init, id2label=id2label, ignore_mismatched_sizes=True)
        try:
            processor = ViTHybridImageProcessor.from_pretrained(args.init)
        except CheckpointError:
            print(f"{args.init} has no processor config: using mean = std = 0.5 at its image size")
            processor = square_processor(model.config.image_size)
    else:
        model = ViTHybridForImageClassification(scene_config(args.size, args.width))
        processor = square_processor(args.size)  # scenes are drawn at this size: resize and crop are identities
    model.to(args.device)
    if args.data:
        pixels, labels = preprocess(paths, processor), torch.tensor(labels)
        order = torch.randperm(len(labels))
        cut = max(1, len(labels) // 10)
        val_x, val_y, train_x, train_y = pixels[order[:cut]], labels[order[:cut]], pixels[order[cut:]], labels[order[cut:]]
    else:
        size = model.config.image_size
        print(f"generating {args.train_scenes} training and {args.val_scenes} validation scenes", flush=True)
        images, train_y = make_batch(TRAIN_SEED, 0, args.train_scenes, size, processes=torch.get_num_threads())
        train_x, train_y = torch.from_numpy(images), torch.from_numpy(train_y)  # uint8: floats per batch
        images, val_y = make_batch(VALIDATION_SEED, 0, args.val_scenes, size)
        val_x, val_y = torch.from_numpy(images), torch.from_numpy(val_y)
    steps = args.epochs * math.ceil(len(train_y) / args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    warmup = max(1, int(steps * args.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {steps} steps of {args.batch}", flush=True)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_y))
        bar = tqdm(range(0, len(order), args.batch), desc=f"epoch {epoch}/{args.epochs}", mininterval=5)
        for i in bar:
            index = order[i : i + args.batch]
            x = train_x[index].to(args.device)
            x = to_pixels(x) if x.dtype == torch.uint8 else x
            flips = torch.rand(len(index), device=x.device) < 0.5  # shapes keep their class under flips and turns
            x = torch.where(flips[:, None, None, None], x.flip(-1), x).rot90(int(torch.randint(4, ())), (-2, -1))
            loss = model(x, labels=train_y[index].to(args.device)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        accuracy = evaluate(model, val_x, val_y)
        print(f"epoch {epoch}: validation accuracy {accuracy:.4f} ({time.time() - start:.0f} s)", flush=True)
        save(model, processor, args.out)  # after every epoch: an interrupted run keeps its progress
    print(f"saved to {args.out}: {steps} steps, validation accuracy {accuracy:.4f}")


def save(model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor, folder: Path) -> None:
    """Writes the model (float32, on the CPU) and its processor as a Hub-style folder."""
    device = model.device
    model.eval().cpu().save_pretrained(folder)
    processor.save_pretrained(folder)
    model.to(device)


if __name__ == "__main__":
    main()
