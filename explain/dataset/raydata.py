"""A dataset run on Ray Data, on one machine or a cluster, with the rows of the local run.

Ray lists and reads the files as bytes (`read_binary_files`); an actor pool, one model per actor
(and a GPU per actor where the cluster has them), decodes them with `load_image` and explains them
with `explain.dataset.rows.FileExplainer`, as the local runner does (an auto batch size is chosen by each
actor on its first batch); Ray writes the rows as Parquet under OUT/rows/ in the same schema.
The model travels once through Ray's object store, and this package's code with the job
(`RUNTIME_ENV`), so the cluster's nodes need only its dependencies. Paths (the images, OUT) must
be the same on every node: a shared file system.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import ray
import torch

import vit_hybrid
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

from .rows import FileExplainer, Job
from .sources import key_of
from .table import ROWS, to_table

# this package's code, shipped to the workers of a Ray this module starts (a Ray started by its caller
# needs the same, or the packages installed on its nodes)
RUNTIME_ENV = {"py_modules": [str(Path(vit_hybrid.__file__).parent), str(Path(__file__).parents[1])]}  # vit_hybrid, explain


class Explainer:
    """One actor of the pool: its own copy of the model, explaining the batches Ray hands it."""

    def __init__(self, shipped: dict, job: Job, root: str) -> None:
        model, processor = ray.get(shipped["model"])
        self.explain_files = FileExplainer(model.to("cuda" if torch.cuda.is_available() else "cpu"), processor, job)
        self.root = Path(root)

    def __call__(self, batch: dict) -> pa.Table:
        files = [(key_of(Path(path), self.root), bytes(data)) for path, data in zip(batch["path"], batch["bytes"])]
        return to_table(self.explain_files(files))


def run_on_ray(address: str | None, model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor,
               job: Job, paths: list[Path], root: Path, out: Path, *, actors: int = 1, actor_cpus: float = 1.0,
               actor_gpus: float | None = None, chunk: int) -> None:
    """Explains `paths` on Ray Data and writes their rows under out/rows/.

    Args:
        address: the cluster to join ("auto", "ray://head:10001"), or None for a local Ray started
            here (and stopped after). A Ray already initialised in this process is used as it is
            (start it with `runtime_env=RUNTIME_ENV` unless the nodes have this package).
        actors: model actors; `actor_cpus` and `actor_gpus` each (GPUs: 1 when the cluster has
            any, unless given). Leave CPUs to Ray's read and write tasks: actors holding every
            CPU starve them.
        chunk: images per actor call.
    """
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, runtime_env=RUNTIME_ENV, **({} if address else {"include_dashboard": False}))
    try:
        if actor_gpus is None:
            actor_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        shipped = {"model": ray.put((model.cpu(), processor))}  # in a dict: handed over as a reference
        files = ray.data.read_binary_files([str(p) for p in paths], include_paths=True)
        rows = files.map_batches(
            Explainer, fn_constructor_kwargs={"shipped": shipped, "job": job, "root": str(root)},
            batch_size=chunk, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus, num_gpus=actor_gpus,
        )
        rows.write_parquet(str((out / ROWS).absolute()))
    finally:
        if started:
            ray.shutdown()
