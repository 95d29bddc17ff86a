"""Resident memory of a long dataset run: 2,000 shape scenes through `python -m explain.dataset`
(bundled model, every map at its page default, no metrics), measured in the same process after the
200th and the 2,000th image. Exits with 1 when it grew by more than the allowed amount.

    python -m scripts.memory_dataset                  # --scenes 2000 --allowed-mb 150
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import PIL.Image

from explain.benchmark.scenes import TEST_SEED, make_batch
from explain.dataset import main as run
from explorer.paths import BUNDLED
from explorer.server import resident_mb

CHUNK = 40  # a part file every 40 images, so that memory is read after exactly the 200th


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=2000)
    parser.add_argument("--early", type=int, default=200, help="the image after which memory is first read")
    parser.add_argument("--allowed-mb", type=float, default=150.0)
    args = parser.parse_args()
    readings: dict[int, float] = {}

    def measure(done: int) -> None:
        if done in (args.early, args.scenes):
            readings[done] = resident_mb(os.getpid())

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "scenes"
        source.mkdir()
        images, _ = make_batch(TEST_SEED, 0, args.scenes, processes=2)
        for index, image in enumerate(images):
            PIL.Image.fromarray(image).save(source / f"scene-{index:05d}.png")
        del images
        run([str(source), "--out", str(Path(folder) / "run"), "--model", str(BUNDLED), "--chunk", str(CHUNK)], measure)
    growth = readings[args.scenes] - readings[args.early]
    print(f"resident memory: {readings[args.early]:.0f} MB after image {args.early}, "
          f"{readings[args.scenes]:.0f} MB after image {args.scenes}: growth {growth:+.1f} MB "
          f"(allowed {args.allowed_mb:g} MB)")
    sys.exit(0 if growth <= args.allowed_mb else 1)


if __name__ == "__main__":
    main()
