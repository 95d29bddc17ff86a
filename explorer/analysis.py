"""What one visitor's page holds between events (the picture, the model that explained it, and the
`Explanation`; every control re-renders from it), and the model work behind it, as steps that the
app's one scheduler runs (`explorer.scheduler`): a first step (decode, the forward pass, the
predictions and the maps that need no gradient), one step per class from the kept pass, and the
passes that add a class outside the top k. The kept passes live in `GRAPHS`, under their owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import PIL.Image
import torch

from explain import (
    DISCARD,
    FUSIONS,
    ClassMaps,
    Explanation,
    MapChoice,
    Steps,
    assemble,
    class_maps,
    explain_class,
    explain_classes,
    model_input,
)
from explain.draw import DISPLAY_SIDE, method_of
from vit_hybrid.images import load_image

from .gpu import ZERO_GPU, explain_on_gpu
from .graphs import GRAPHS_WAIT_S, KeptGraphs, estimate, tokens_of
from .scheduler import LATER, Scheduler
from .store import ServedModel

TOP_K = 5  # predictions shown, and classes explained with every upload
SCHEDULER = Scheduler()  # all model work of the app: one step at a time, on all the cores
GRAPHS = KeptGraphs()  # the kept passes, by owner, bounded in bytes


@dataclass(frozen=True)
class Analysis:
    """One explained upload.

    Attributes:
        model: the name of the model that explained it.
        source: the uploaded file, so that the same file and settings are not explained twice.
        image: the upright RGB picture, longest side at most DISPLAY_SIDE, (H, W, 3) uint8.
        same_padding: whether the model pads "SAME" (more on the right and bottom, as TensorFlow).
    """

    model: str
    source: str
    view: str
    image: np.ndarray
    explanation: Explanation
    same_padding: bool = False


def display_image(image: PIL.Image.Image) -> np.ndarray:
    """The picture as RGB uint8 with its longest side at most DISPLAY_SIDE (overlays' size)."""
    small = image.copy()
    small.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), PIL.Image.Resampling.BILINEAR)
    return np.asarray(small)


def first_step(served: ServedModel, source: str, view: str, owner: str, fusions: tuple[str, ...] = FUSIONS[:1],
               top_k: int = TOP_K) -> Analysis:
    """Runs as a step: decodes the upload (`ImageError` when it is not a usable image) and runs the
    forward pass: the predictions and the maps that need no gradient (rollout with `fusions`).
    The pass is kept in `GRAPHS` for `owner`'s class steps when it fits; when it does not, it
    runs without a graph, which `regraph` makes later. On ZeroGPU one call computes every
    map of the top k at once, and nothing is kept."""
    image = load_image(source)
    pixel_values, geometry = model_input(image, served.processor, served.model.config, view)
    if ZERO_GPU:
        tensors = explain_on_gpu(served.name, pixel_values, top_k, FUSIONS, DISCARD)
    else:
        size = graph_size(served, pixel_values)
        graph = GRAPHS.fits(size)
        steps = Steps(served.model, pixel_values, top_k=top_k, explained=None if graph else 0, fusions=fusions,
                      autocast=served.autocast)
        tensors = steps.tensors()
        if graph:
            GRAPHS.keep(owner, steps, size)
    explanation = assemble(served.model, tensors, pixel_values, geometry, view, top_k=top_k)
    same = served.model.config.backbone_config.global_padding == "SAME"
    return Analysis(served.name, source, view, display_image(image), explanation, same)


def graph_size(served: ServedModel, pixel_values: torch.Tensor) -> int:
    """The bytes a kept pass of `pixel_values` holds (`explorer.graphs.estimate`)."""
    config = served.model.config
    return estimate(config, served.per_token, tokens_of(config, *pixel_values.shape[-2:]))


def to_explain(analysis: Analysis) -> list[int]:
    """The top-k classes of an analysis that have no maps yet, most probable first."""
    return [p.index for p in analysis.explanation.predictions if p.index not in analysis.explanation.classes]


def regraph(served: ServedModel, analysis: Analysis, owner: str, top_k: int = TOP_K) -> bool:
    """Runs as a step: the forward pass of `analysis` again, kept for `owner` (after a stream was
    stopped, or a pass that did not fit); whether it fits now."""
    size = graph_size(served, analysis.explanation.pixel_values)
    if not GRAPHS.fits(size):
        return False
    steps = Steps(served.model, analysis.explanation.pixel_values, top_k=top_k, fusions=(), autocast=served.autocast)
    steps.pending = [i for i in steps.pending if i not in analysis.explanation.classes]
    return GRAPHS.keep(owner, steps, size)


def class_step(served: ServedModel, owner: str, index: int) -> ClassMaps | None:
    """Runs as a step: class `index`'s maps from `owner`'s kept pass (None when it has none); the
    pass is dropped whole after its last class."""
    steps = GRAPHS.get(owner)
    if steps is None:
        return None
    maps = class_maps(served.model, steps.probabilities, index, steps.add(index))
    if not steps.pending:
        GRAPHS.drop(owner, steps)
    return maps


def fusions_step(owner: str) -> dict | None:
    """Runs as a step: rollout's other head fusions from `owner`'s kept pass (None without one)."""
    steps = GRAPHS.get(owner)
    return None if steps is None else steps.add_fusions(FUSIONS)


def new_job() -> str:
    """An owner name for one API call."""
    return f"job-{uuid.uuid4().hex}"


def analyse(served: ServedModel, source: str, view: str = "crop", top_k: int = TOP_K) -> Analysis:
    """Every map of an upload's top k, as a job of steps (a forward, one backward per class) that
    ranks after waiting first steps; `ImageError` when it is not a usable image."""
    job = new_job()
    try:
        analysis = SCHEDULER.call(job, LATER, lambda: first_step(served, source, view, job, FUSIONS, top_k), job=True)
        return finish_job(served, analysis, job)
    finally:
        SCHEDULER.cancel(job)
        GRAPHS.drop(job)


def has_graph(served: ServedModel, analysis: Analysis, owner: str, job: bool = False) -> bool:
    """Whether `owner` has a kept pass for `analysis`, making it again (a step) when there is room;
    when there is none, waits a while for some and says False (the caller looks again)."""
    if GRAPHS.get(owner) is not None or SCHEDULER.call(owner, LATER, lambda: regraph(served, analysis, owner), job=job):
        return True
    GRAPHS.wait_for_room(graph_size(served, analysis.explanation.pixel_values), GRAPHS_WAIT_S)
    return False


def finish_job(served: ServedModel, analysis: Analysis, job: str) -> Analysis:
    """The job's analysis with every top-k class explained, a step each (its pass made again first
    when it did not fit, once enough is free)."""
    for index in to_explain(analysis):
        while not has_graph(served, analysis, job, job=True):
            pass
        maps = SCHEDULER.call(job, LATER, lambda: class_step(served, job, index), job=True)
        analysis = replace(analysis, explanation=replace(
            analysis.explanation, classes={**analysis.explanation.classes, index: maps}))
    return analysis


def run_job(run: Callable[[], Any]) -> Any:
    """`run` as a one-step job (an API call's extra pass); the scheduler forgets the job after."""
    job = new_job()
    try:
        return SCHEDULER.call(job, LATER, run, job=True)
    finally:
        SCHEDULER.cancel(job)


def ensure_class(analysis: Analysis, served: Callable[[], ServedModel], choice: MapChoice,
                 owner: str | None = None) -> tuple[Analysis, bool]:
    """The analysis with the chosen class's maps, and whether the model had to run for them
    (only a class-specific map of a class outside the explained ones needs it: one more pass, a
    step of `owner`'s; `served` is called, and the model looked up, only then)."""
    index = choice.class_index
    if not method_of(choice).class_specific or index is None or index in analysis.explanation.classes:
        return analysis, False
    model = served()
    work = lambda: explain_class(model.model, analysis.explanation, index, model.autocast)  # noqa: E731
    explanation = run_job(work) if owner is None else SCHEDULER.call(owner, LATER, work)
    return replace(analysis, explanation=explanation), True


def add_classes(served: ServedModel, analysis: Analysis, indices: list[int]) -> Analysis:
    """The analysis with the maps of `indices` added (one more pass for those it lacks), as a job."""
    explanation = run_job(lambda: explain_classes(served.model, analysis.explanation, indices, served.autocast))
    return replace(analysis, explanation=explanation)
