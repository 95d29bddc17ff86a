"""Trains a ViT-Hybrid image classifier on generated shape scenes or on a folder of images.

From scratch (the bundled model):
    python -m scripts.train --out assets/model
Fine-tuning any checkpoint, the Hub's included, on a folder with one sub-folder per class:
    python -m scripts.train --data my_images/ --init google/vit-hybrid-base-bit-384 --out my-model

The result is saved with save_pretrained, with its processor and label names, so it loads like any
Hub checkpoint: here and in transformers 4.46.3 alike. The work is `explain.benchmark.training`'s.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from explain.benchmark.scenes import CLASSES, TRAIN_SEED, VALIDATION_SEED, make_batch
from explain.benchmark.training import fit, folder_images, preprocess, scene_config
from vit_hybrid import ViTHybridForImageClassification
from vit_hybrid.processor import processor_or_square, square_processor


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
        processor = processor_or_square(args.init, model.config.image_size)
    else:
        model = ViTHybridForImageClassification(scene_config(args.size, args.width))
        processor = square_processor(args.size)  # scenes are drawn at this size: resize and crop are identities
    model.to(args.device)
    if args.data:
        pixels, labels = preprocess(paths, processor), torch.tensor(labels)
        order = torch.randperm(len(labels))
        cut = max(1, len(labels) // 10)
        validation, train = (pixels[order[:cut]], labels[order[:cut]]), (pixels[order[cut:]], labels[order[cut:]])
    else:
        size = model.config.image_size
        print(f"generating {args.train_scenes} training and {args.val_scenes} validation scenes", flush=True)
        images, labels = make_batch(TRAIN_SEED, 0, args.train_scenes, size, processes=torch.get_num_threads())
        train = torch.from_numpy(images), torch.from_numpy(labels)  # uint8: floats per batch
        images, labels = make_batch(VALIDATION_SEED, 0, args.val_scenes, size)
        validation = torch.from_numpy(images), torch.from_numpy(labels)
    fit(model, processor, train, validation, args.out, epochs=args.epochs, batch=args.batch, lr=args.lr,
        warmup=args.warmup, weight_decay=args.weight_decay)


if __name__ == "__main__":
    main()
