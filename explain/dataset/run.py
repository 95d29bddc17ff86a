"""Explains every image of a folder (or list file) and writes predictions and maps to Parquet.

    python -m explain.dataset photos/ --out run/ --model assets/model
    python -m explain.dataset photos/ --out run/ --model assets/model --labels-from-folders --target true \\
        --maps rollout,gradcam:stage2 --faithfulness --masks masks/ --overlays
    python -m explain.dataset photos/ --out run/ --model assets/model --ray auto   # on a Ray cluster

Rows go to OUT/rows/*.parquet (`explain.dataset.table`), one per image file; files that cannot be decoded
get a row with `load_image`'s message and no maps. OUT/manifest.json records the model and the
options: run the same command again to resume (also after a kill: done images are skipped); other
options are refused. `python -m explain.report OUT` draws the report of a finished run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from explain.batch import BATCH_SIZE
from explain.inputs import VIEWS
from explain.rollout import DISCARD
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.processor import processor_or_square

from . import manifest
from .mapspec import PAGE_DEFAULTS, parse_maps
from .sources import folder_classes, folder_of, key_of, list_images

try:
    from tqdm import tqdm

    from .rows import FileExplainer, Job
    from .table import done_paths, read_rows, write_part
except ImportError as err:  # pyarrow (or tqdm) missing
    raise SystemExit(f"The dataset runner needs the 'dataset' extra ({err}): pip install '.[dataset]'") from None

CHUNK = 64  # images decoded, explained and written together (one part file)


def batch_size(text: str) -> int | None:
    """--batch-size: "auto" (None: chosen by timing, `explain.dataset.rows.FileExplainer`) or a number of at least 1."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a whole number of at least 1, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m explain.dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder of images (searched recursively) or a list file")
    parser.add_argument("--out", type=Path, required=True, help="the run's folder (rows, manifest, overlays)")
    parser.add_argument("--model", required=True, help="a local model folder or a Hub id")
    parser.add_argument("--view", choices=VIEWS, default="crop")
    parser.add_argument("--maps", default=PAGE_DEFAULTS,
                        help="comma-separated maps: a method (its page default) or method:layer / method:stage, "
                             "e.g. rollout,gradcam:stage2 (default: every method at its page default)")
    parser.add_argument("--target", choices=("top", "true"), default="top",
                        help="the class the class-specific maps explain (true: needs --labels-from-folders)")
    parser.add_argument("--labels-from-folders", action="store_true",
                        help="each image's folder names its true class (matched to the model's labels by name)")
    parser.add_argument("--top-k", type=int, default=5, help="predictions kept per image")
    parser.add_argument("--faithfulness", action="store_true",
                        help="deletion and insertion areas of every map, against a random pixel order. Costly: "
                             "2 x (steps + 1) forward passes per map, and as many per image for the random order "
                             "(34 each at --steps 16), where the maps themselves take one forward and one backward")
    parser.add_argument("--steps", type=int, default=16, help="steps of each deletion and insertion curve")
    parser.add_argument("--masks", type=Path,
                        help="a folder of masks (a PNG at each image's relative path, white inside the object): "
                             "pointing game and energy inside for every map; cheap (one resampling per map)")
    parser.add_argument("--tolerance", type=int, default=0, help="pixels a map's peak may miss the mask by")
    parser.add_argument("--overlays", action="store_true", help="also write each map over its image as PNG")
    parser.add_argument("--batch-size", type=batch_size, default="auto",
                        help="images per explanation pass and per faithfulness-curve pass, or auto (default): "
                             f"the first images are timed at 1 and at {BATCH_SIZE} a pass, alternately, and the "
                             "faster per image is kept for the run (in each Ray actor, on its first batch)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="images per part file (the unit of resuming)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run on Ray Data: a cluster's address (auto, ray://host:10001), or none for a local Ray")
    parser.add_argument("--actors", type=int, default=1,
                        help="with --ray: model actors (one model each); leave CPUs to Ray's read and write tasks")
    parser.add_argument("--actor-cpus", type=float, default=1.0, help="with --ray: CPUs per actor")
    parser.add_argument("--actor-gpus", type=float, default=None,
                        help="with --ray: GPUs per actor (default: 1 when the cluster has GPUs, else 0)")
    args = parser.parse_args(argv)
    if args.target == "true" and not args.labels_from_folders:
        parser.error("--target true needs --labels-from-folders (the true class comes from the folder's name)")
    if args.masks is not None and not args.masks.is_dir():
        parser.error(f"--masks {args.masks} is not a folder")
    for name in ("top_k", "steps", "chunk", "actors"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def load_model(source: str, device: str) -> tuple[ViTHybridForImageClassification, ViTHybridImageProcessor]:
    """The model (frozen, eval mode) and its processor; a checkpoint without a processor config
    gets the Hub model's preprocessing at its size."""
    try:
        model = ViTHybridForImageClassification.from_pretrained(source)
    except Exception as err:  # CheckpointError, ConfigError, I/O
        raise SystemExit(f"The model {source!r} could not be loaded: {err}") from None
    processor = processor_or_square(source, model.config.image_size)
    return model.requires_grad_(False).eval().to(device), processor


def settings(args: argparse.Namespace, fingerprint: str, root: Path) -> dict[str, Any]:
    """What the rows depend on (the manifest): not the batch size, the part size or where it runs."""
    return {
        "format": 1, "model": args.model, "model_sha256": fingerprint, "source": str(root), "view": args.view,
        "maps": args.maps, "target": args.target, "labels_from_folders": args.labels_from_folders, "top_k": args.top_k,
        "faithfulness_steps": args.steps if args.faithfulness else 0,
        "masks": str(args.masks.absolute()) if args.masks else None, "tolerance": args.tolerance,
        "overlays": args.overlays, "fusion": "mean", "discard": DISCARD,
    }


def run_local(model, processor, job: Job, files: list[tuple[str, Path]], out: Path,
              progress: Callable[[int], None] = lambda done: None, chunk: int = CHUNK) -> None:
    """Explains `files` (key, path) a chunk at a time, each chunk one part file; `progress` is
    told how many images are done after each. An auto batch size is chosen on the first chunk."""
    with tqdm(total=len(files), unit="image", desc="explaining", smoothing=0.1) as bar:
        explain_files = FileExplainer(model, processor, job, report=bar.write)
        for start in range(0, len(files), chunk):
            group = files[start : start + chunk]
            write_part(out, explain_files(group))
            bar.update(len(group))
            progress(start + len(group))


def main(argv: list[str] | None = None, progress: Callable[[int], None] = lambda done: None) -> None:
    args = parse_args(argv)
    device = "cuda" if torch.cuda.is_available() and args.ray is None else "cpu"
    model, processor = load_model(args.model, device)
    try:
        specs = parse_maps(args.maps, model.config)
    except ValueError as err:
        raise SystemExit(f"--maps: {err}") from None
    root, paths = list_images(args.source)
    paths = [p for p in paths if not p.is_relative_to(args.out.absolute())]  # never the run's own overlays
    keys = [key_of(p, root) for p in paths]
    classes: dict[str, int] = {}
    if args.labels_from_folders:
        classes, notes = folder_classes({folder_of(k) for k in keys}, model.config.id2label)
        for note in notes:
            print(note, file=sys.stderr)
    manifest.claim(args.out, settings(args, manifest.model_fingerprint(model, processor), root))
    done, notes = done_paths(args.out)
    for note in notes:
        print(note, file=sys.stderr)
    todo = [(k, p) for k, p in zip(keys, paths) if k not in done]
    print(f"{len(keys)} images in {args.source}: {len(keys) - len(todo)} done before, {len(todo)} to explain",
          flush=True)
    job = Job(maps=tuple(specs), view=args.view, target=args.target, top_k=args.top_k,
              classes=tuple(sorted(classes.items())), steps=args.steps if args.faithfulness else 0,
              masks=str(args.masks) if args.masks else None, tolerance=args.tolerance,
              overlays=str(args.out / "overlays") if args.overlays else None, batch_size=args.batch_size)
    if todo and args.ray is not None:
        try:
            from .raydata import run_on_ray
        except ImportError as err:
            raise SystemExit(f"--ray needs Ray Data ({err}): pip install '.[dataset]'") from None
        run_on_ray(args.ray or None, model, processor, job, [p for _, p in todo], root, args.out,
                   actors=args.actors, actor_cpus=args.actor_cpus, actor_gpus=args.actor_gpus, chunk=args.chunk)
    elif todo:
        run_local(model, processor, job, todo, args.out, progress, args.chunk)
    report_failures(args.out)


def report_failures(out: Path) -> None:
    """Prints how many rows the run has and every file that could not be explained, with why."""
    rows = read_rows(out, columns=["path", "error"])
    failed = [(p, e) for p, e in zip(rows.column("path").to_pylist(), rows.column("error").to_pylist()) if e]
    print(f"{out}: {rows.num_rows - len(failed)} images explained, {len(failed)} could not be", flush=True)
    for path, error in failed:
        print(f"  {path}: {error}")
