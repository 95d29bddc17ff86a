"""The work of a dataset run on a group of image files, the same on one machine and in a Ray actor:
decode each file with `load_image`, explain the group with the batched core, and make one row
per file (`explain.dataset.table`), with the metrics and overlays asked for. The batch size is given, or
chosen by timing in each process (`FileExplainer`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from explain.batch import BATCH_SIZE, ModelInput, explain_batch, same_size_batches
from explain.draw.export import image_record, map_record
from explain.draw.overlay import display_picture, display_size, overlay, place
from explain.explanation import Explanation
from explain.inputs import MAX_TOKENS, model_input
from explain.measure.metrics import Curve, deletion_insertion, energy_inside, pointing_game
from explain.methods import METHODS
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.images import ImageError, load_image

from .autobatch import decide
from .mapspec import MapSpec
from .sources import folder_of, mask_path, safe_relative


@dataclass(frozen=True)
class Job:
    """What every image of a run gets (picklable, for Ray's workers).

    Attributes:
        maps: the maps to keep.
        target: "top" (the top prediction) or "true" (the class its folder names).
        classes: folder name -> class index, when classes come from folders (else empty).
        steps: deletion and insertion steps per curve, or 0 for none.
        masks: the folder of masks (pointing game and energy inside), or None.
        tolerance: pixels a map's peak may miss its mask by in the pointing game.
        overlays: the folder for PNG overlays, or None.
        batch_size: images per explanation pass and per faithfulness-curve pass; None (auto): the
            size `FileExplainer` finds faster per image on its first group, for both.
    """

    maps: tuple[MapSpec, ...]
    view: str = "crop"
    target: str = "top"
    top_k: int = 5
    classes: tuple[tuple[str, int], ...] = ()
    steps: int = 0
    masks: str | None = None
    tolerance: int = 0
    overlays: str | None = None
    batch_size: int | None = None
    max_tokens: int = MAX_TOKENS

    def true_class(self, key: str) -> int | None:
        """The class the image's folder names, if any."""
        return dict(self.classes).get(folder_of(key))


def _mask(job: Job, key: str, size: tuple[int, int]) -> torch.Tensor | None:
    """The image's mask at its size (h, w), True inside; None when it has none (or one that does
    not decode: its metrics stay null)."""
    path = mask_path(Path(job.masks), key) if job.masks else None
    if path is None or not path.is_file():
        return None
    try:
        mask = load_image(path).convert("L")
    except ImageError:
        return None
    if mask.size != size[::-1]:
        mask = mask.resize(size[::-1], PIL.Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(mask) > 127)


def _metrics(model: ViTHybridForImageClassification, job: Job, explanation: Explanation, values: torch.Tensor,
             index: int, mask: torch.Tensor | None, random: dict[str, tuple[Curve, Curve]],
             batch_size: int) -> dict[str, Any]:
    """The map's metrics; `random` keeps the random order's curves, which every map of the image
    shares, from the first map to the next."""
    found: dict[str, Any] = {}
    if job.steps:
        curves = deletion_insertion(model, explanation.pixel_values, values, index, steps=job.steps,
                                    batch_size=batch_size, random=random.get("curves"))
        random["curves"] = curves.random_deletion, curves.random_insertion
        found.update({name: getattr(curves, name).area for name in ("deletion", "insertion", "random_deletion",
                                                                    "random_insertion")})
    if mask is not None:
        placed, _ = place(values, explanation.geometry, tuple(mask.shape))  # the map over the original image
        found.update(pointing_game=pointing_game(placed, mask, job.tolerance), energy_inside=energy_inside(placed, mask))
    return found


def _write_overlay(job: Job, key: str, spec: MapSpec, picture: np.ndarray, values: torch.Tensor,
                   explanation: Explanation) -> None:
    path = Path(job.overlays) / safe_relative(key) / f"{spec.name.replace(':', '-')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(overlay(picture, values, explanation.geometry)).save(path)


def image_row(model: ViTHybridForImageClassification, job: Job, key: str, image: PIL.Image.Image,
              explanation: Explanation, true: int | None, batch_size: int) -> dict[str, Any]:
    """The row of one explained image (`true`: its true class, if known; `batch_size`: images per
    faithfulness-curve pass)."""
    mask = _mask(job, key, (image.height, image.width))
    (target,) = explanation.classes.values()
    index = target.index
    random: dict[str, tuple[Curve, Curve]] = {}  # the random order's curves, computed with the first map
    if job.overlays:  # the picture at display size once, for every map's overlay
        picture = np.asarray(image)
        picture = display_picture(picture, display_size(picture.shape[:2]))
    maps = []
    for spec in job.maps:
        values, names = spec.record(explanation)
        values = torch.nan_to_num(values.detach().float().cpu())
        maps.append({"name": spec.name, **map_record(values, **names),
                     **_metrics(model, job, explanation, values, index, mask, random, batch_size)})
        if job.overlays:
            _write_overlay(job, key, spec, picture, values, explanation)
    labels = model.config.id2label
    record = image_record(explanation)
    return {
        "path": key,
        **{name: record[name] for name in ("original_size", "crop_box", "predictions")},
        "target_index": index,
        "target_label": target.label,
        "target_probability": target.probability,
        "true_index": true,
        "true_label": None if true is None else labels.get(true, str(true)),
        "maps": maps,
    }


Decoded = tuple[str, PIL.Image.Image, ModelInput, int | None]  # key, image, model input, true class


def _decode(model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor, job: Job,
            files: list[tuple[str, str | os.PathLike | bytes]]) -> tuple[list[dict[str, Any]], list[Decoded]]:
    """The rows of the files that cannot be explained (with why), and the others decoded."""
    rows, decoded = [], []
    for key, source in files:
        true = job.true_class(key)
        try:
            if job.target == "true" and true is None:
                raise ImageError(f"Its folder {folder_of(key)!r} names no class of the model, so it has no true class.")
            image = load_image(source)
            decoded.append((key, image, model_input(image, processor, model.config, job.view, job.max_tokens), true))
        except (ImageError, ValueError) as err:
            rows.append({"path": key, "error": str(err)})
    return rows, decoded


def _explained_rows(model: ViTHybridForImageClassification, job: Job, decoded: list[Decoded],
                    batch_size: int) -> list[dict[str, Any]]:
    """The rows of decoded images, `batch_size` images per explanation pass and curve pass."""
    class_specific = any(METHODS[spec.method].class_specific for spec in job.maps)
    trues = [true for *_, true in decoded]
    explanations = explain_batch(model, [i for _, _, i, _ in decoded], trues if job.target == "true" else None,
                                 view=job.view, top_k=job.top_k, batch_size=batch_size, fusions=("mean",),
                                 class_specific=class_specific)
    return [image_row(model, job, key, image, e, true, batch_size)
            for (key, image, _, true), e in zip(decoded, explanations)]


class FileExplainer:
    """Rows of one job's files, a group at a time (a part file, a Ray batch), in one process.

    With `job.batch_size` None (auto), the first group with two inputs of one size decides the batch
    size for itself and every later group (groups before it run one at a time): its largest set of same-size inputs is explained at batch 1 and at
    `explain.batch.BATCH_SIZE` (or that set's size, when smaller) alternately and timed
    (`explain.dataset.autobatch`), the rows those passes made are kept (an image explained twice, when the
    set is too small for the passes, keeps its first row), and `report` is told the choice.
    """

    def __init__(self, model: ViTHybridForImageClassification, processor: ViTHybridImageProcessor, job: Job,
                 report: Callable[[str], object] = print) -> None:
        self.model, self.processor, self.job, self.report = model, processor, job, report
        self.batch_size = job.batch_size

    def __call__(self, files: list[tuple[str, str | os.PathLike | bytes]]) -> list[dict[str, Any]]:
        """One row per (key, path or bytes): explained, or with the reason it could not be."""
        rows, decoded = _decode(self.model, self.processor, self.job, files)
        explained = self._choose(decoded) if self.batch_size is None else {}
        rest = [p for p in range(len(decoded)) if p not in explained]
        explained.update(zip(rest, _explained_rows(self.model, self.job, [decoded[p] for p in rest], self.batch_size or 1)))
        return rows + [explained[p] for p in range(len(decoded))]

    def _choose(self, decoded: list[Decoded]) -> dict[int, dict[str, Any]]:
        """Sets the batch size by timing; the rows the timed passes made, by position in `decoded`."""
        groups = same_size_batches([i for _, _, i, _ in decoded], max(1, len(decoded)))
        group = max(groups, key=len, default=[])
        made: dict[int, dict[str, Any]] = {}
        if len(group) < 2:  # nothing to time in this group (its files failed, or one image): one at a time, choose later
            return made

        def work(positions: list[int]) -> None:
            chosen = [group[p] for p in positions]
            for position, row in zip(chosen, _explained_rows(self.model, self.job, [decoded[p] for p in chosen],
                                                             len(chosen))):
                made.setdefault(position, row)

        choice = decide(work, len(group), BATCH_SIZE)
        self.batch_size = choice.batch_size
        self.report(choice.describe())
        return made
