"""Images per second of dataset explanations: one at a time against the batched core, and the dataset
runner on Ray Data against the same runner on this machine alone.

    python scripts/bench_dataset.py                 # both models, then Ray
    python scripts/bench_dataset.py --skip-ray --reps 5

Batching: each repetition draws fresh random 400x500 RGB images and explains them (predictions,
rollout and raw attention, and the class-specific maps of the top class), preprocessing included,
in an order reversed every other repetition:
  - one at a time: `explain(model, image, processor, top_k=5, explained=1, fusions=("mean",))`
    per image (the page's path);
  - batched: `explain_batch` on all of them, `--batch` per forward and backward pass.
For the Hub architecture (google/vit-hybrid-base-bit-384, random weights, 384 px, 12 layers) and
the bundled model (128 px, 4 layers); medians of --reps after one warm-up.

Ray: `python -m explain.dataset` on --ray-images shape scenes (bundled model, every map), run
locally and with --ray (a local Ray started and stopped by the run, two actors of half a CPU),
alternately, each as a command of its own; wall time of the whole command (Python's start and
the model's loading included, and Ray's start for the Ray run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explain import explain  # noqa: E402
from explain.batch import explain_batch  # noqa: E402
from explain.inputs import model_input  # noqa: E402
from explain.scenes import TEST_SEED, make_batch  # noqa: E402
from explorer.paths import BUNDLED  # noqa: E402
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor  # noqa: E402
from vit_hybrid.config import hub_architecture  # noqa: E402
from vit_hybrid.processor import square_processor  # noqa: E402


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def batching(name: str, model, processor, count: int, batch: int, reps: int) -> None:
    """Images per second one at a time and batched, medians of `reps`."""
    rng = np.random.default_rng(0)

    def alone(images):
        for image in images:
            explain(model, image, processor, top_k=5, explained=1, fusions=("mean",))

    def together(images):
        inputs = [model_input(image, processor, model.config) for image in images]
        explain_batch(model, inputs, top_k=5, batch_size=batch, fusions=("mean",))

    ways = {"one at a time": alone, f"batched ({batch} a pass)": together}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for rep in range(reps + 1):
        images = [rng.integers(0, 256, (400, 500, 3), dtype=np.uint8) for _ in range(count)]
        order = list(ways) if rep % 2 == 0 else list(ways)[::-1]
        for way in order:
            seconds = timed(lambda way=way, images=images: ways[way](images))
            if rep:  # the first repetition warms up
                times[way].append(seconds)
    rates = {way: count / statistics.median(t) for way, t in times.items()}
    (first, one), (second, many) = rates.items()
    print(f"{name}: {count} images, median of {reps}: {first} {one:.2f} images/s, {second} {many:.2f} images/s, "
          f"ratio {many / one:.2f}", flush=True)


def ray_overhead(count: int, reps: int) -> None:
    """Wall time of the dataset runner here and on a local Ray, each a command of its own, medians
    of `reps`."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "scenes"
        source.mkdir()
        images, _ = make_batch(TEST_SEED, 0, count)
        for index, image in enumerate(images):
            PIL.Image.fromarray(image).save(source / f"scene-{index:04d}.png")
        common = [sys.executable, "-m", "explain.dataset", str(source), "--model", str(BUNDLED)]
        ways = {"local": [], "ray": ["--ray", "--actors", "2", "--actor-cpus", "0.5"]}
        times: dict[str, list[float]] = {way: [] for way in ways}
        for rep in range(reps):
            for way in (list(ways) if rep % 2 == 0 else list(ways)[::-1]):
                command = [*common, "--out", str(Path(folder) / f"{way}-{rep}"), *ways[way]]
                times[way].append(timed(lambda command=command: subprocess.run(
                    command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    local, ray = (statistics.median(times[w]) for w in ways)
    print(f"dataset runner, {count} scenes, median of {reps}: local {local:.1f} s ({count / local:.1f} images/s), "
          f"Ray {ray:.1f} s ({count / ray:.1f} images/s); Ray / local {ray / local:.2f} "
          f"(runs: local {', '.join(f'{t:.1f}' for t in times['local'])}; ray {', '.join(f'{t:.1f}' for t in times['ray'])})",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--hub-images", type=int, default=8)
    parser.add_argument("--bundled-images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ray-images", type=int, default=500)
    parser.add_argument("--skip-hub", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} "
          "(other work on these cores slows the small passes of one-at-a-time most)", flush=True)
    if not args.skip_hub:
        torch.manual_seed(0)
        hub = ViTHybridForImageClassification(hub_architecture()).eval().requires_grad_(False)
        batching("Hub architecture (384 px)", hub, square_processor(384), args.hub_images,
                 min(args.batch, args.hub_images), args.reps)
        del hub
    bundled = ViTHybridForImageClassification.from_pretrained(BUNDLED).requires_grad_(False)
    batching("bundled model (128 px)", bundled, ViTHybridImageProcessor.from_pretrained(BUNDLED), args.bundled_images,
             args.batch, args.reps)
    if not args.skip_ray:
        ray_overhead(args.ray_images, args.reps)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
