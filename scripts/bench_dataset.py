"""Images per second of dataset explanations: one at a time, batched and with the batch size chosen
by timing (auto), and the dataset runner on Ray Data against the same runner on this machine alone.
Every figure has the 1-minute load average (`os.getloadavg`) at its end beside it: other work on
these cores slows the small passes of one at a time most.

    python -m scripts.bench_dataset                 # both models, then Ray
    python -m scripts.bench_dataset --skip-ray --hub-images 34

Batching: each repetition draws fresh random 400x500 RGB images, as PNG files in memory, and
makes their rows as the runner does (`explain.dataset.rows.FileExplainer`, a part file of up to 64 images
at a time: decoding, predictions, every map at its page default for the top class), in an order
reversed every other repetition:
  - one at a time: --batch-size 1;
  - batched: --batch-size `explain.batch.BATCH_SIZE` (or the image count, when fewer);
  - auto: --batch-size auto, a new choice each repetition (as in a new process), its timed passes
    (2 images at batch 1 and 2 x B at batch B, B as batched) included.
For the Hub architecture (google/vit-hybrid-base-bit-384, random weights, 384 px, 12 layers) and
the bundled model (128 px, 4 layers); medians of --reps after a warm-up pass at each size.

Ray: `python -m explain.dataset` on --ray-images shape scenes (bundled model, every map), run
locally and with --ray (a local Ray started and stopped by the run, two actors of half a CPU),
alternately, each as a command of its own; wall time of the whole command (Python's start and
the model's loading included, and Ray's start for the Ray run).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from explain.batch import BATCH_SIZE
from explain.benchmark.scenes import TEST_SEED, make_batch
from explain.dataset.mapspec import PAGE_DEFAULTS, parse_maps
from explain.dataset.rows import FileExplainer, Job
from explain.dataset.run import CHUNK
from explorer.paths import BUNDLED, ROOT
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.config import hub_architecture
from vit_hybrid.processor import square_processor

Run = tuple[float, float]  # seconds, and the 1-minute load average at its end


def timed(work: Callable[[], object]) -> Run:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start, os.getloadavg()[0]


def rates(count: int, runs: list[Run]) -> str:
    """The median images per second of `runs`, and each run's with its load average."""
    each = ", ".join(f"{count / seconds:.2f} at load {load:.2f}" for seconds, load in runs)
    return f"{count / statistics.median(s for s, _ in runs):.2f} images/s (runs: {each})"


def png_files(rng: np.random.Generator, count: int) -> list[tuple[str, bytes]]:
    files = []
    for index in range(count):
        buffer = io.BytesIO()
        PIL.Image.fromarray(rng.integers(0, 256, (400, 500, 3), dtype=np.uint8)).save(buffer, format="PNG")
        files.append((f"image-{index:04d}.png", buffer.getvalue()))
    return files


def batching(name: str, model, processor, count: int, reps: int) -> None:
    """Images per second one at a time, batched and auto, medians of `reps`."""
    rng = np.random.default_rng(0)
    batch = min(BATCH_SIZE, count)
    job = Job(maps=tuple(parse_maps(PAGE_DEFAULTS, model.config)))
    ways = {"one at a time": 1, f"batched ({batch} a pass)": batch, "auto": None}
    choices: list[str] = []

    def explain_all(batch_size: int | None, files: list[tuple[str, bytes]]) -> None:
        explain_files = FileExplainer(model, processor, replace(job, batch_size=batch_size), report=choices.append)
        for start in range(0, len(files), CHUNK):
            explain_files(files[start : start + CHUNK])

    warm = png_files(rng, batch)
    explain_all(1, warm[:1])
    explain_all(batch, warm)
    runs: dict[str, list[Run]] = {way: [] for way in ways}
    for rep in range(reps):
        files = png_files(rng, count)
        for way in list(ways) if rep % 2 == 0 else list(ways)[::-1]:
            runs[way].append(timed(lambda way=way, files=files: explain_all(ways[way], files)))
    print(f"{name}, {count} images, medians of {reps}:", flush=True)
    for way, found in runs.items():
        print(f"  {way}: {rates(count, found)}", flush=True)
    print(f"  auto's choices: {'; '.join(choices)}", flush=True)


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
        runs: dict[str, list[Run]] = {way: [] for way in ways}
        for rep in range(reps):
            for way in (list(ways) if rep % 2 == 0 else list(ways)[::-1]):
                command = [*common, "--out", str(Path(folder) / f"{way}-{rep}"), *ways[way]]
                runs[way].append(timed(lambda command=command: subprocess.run(
                    command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    local, ray = (statistics.median(s for s, _ in runs[w]) for w in ways)
    print(f"dataset runner, {count} scenes, medians of {reps}: local {local:.1f} s, {rates(count, runs['local'])}; "
          f"Ray {ray:.1f} s, {rates(count, runs['ray'])}; Ray / local {ray / local:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--hub-images", type=int, default=48)
    parser.add_argument("--bundled-images", type=int, default=256)
    parser.add_argument("--ray-images", type=int, default=500)
    parser.add_argument("--skip-hub", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}",
          flush=True)
    if not args.skip_hub:
        torch.manual_seed(0)
        hub = ViTHybridForImageClassification(hub_architecture()).eval().requires_grad_(False)
        batching("Hub architecture (384 px)", hub, square_processor(384), args.hub_images, args.reps)
        del hub
    bundled = ViTHybridForImageClassification.from_pretrained(BUNDLED).requires_grad_(False)
    batching("bundled model (128 px)", bundled, ViTHybridImageProcessor.from_pretrained(BUNDLED), args.bundled_images,
             args.reps)
    if not args.skip_ray:
        ray_overhead(args.ray_images, args.reps)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
