"""What one visitor's page holds between events: the picture, the model that explained it, and the
`Explanation`; every control re-renders from it, and only a class outside the top k runs the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import PIL.Image

from explain import ClassMaps, Explanation, MapChoice, explain_class
from explain.explanation import Steps, assemble, class_maps
from explain.inputs import model_input
from explain.methods import DISCARD
from explain.overlay import DISPLAY_SIDE
from explain.render import method_of
from explain.rollout import FUSIONS
from vit_hybrid.images import load_image

from .gpu import ZERO_GPU, explain_on_gpu
from .store import ServedModel

TOP_K = 5  # predictions shown, and classes explained with every upload
COMPUTE = threading.Lock()  # one model computation at a time: two would fight over the same cores


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


def analyse(served: ServedModel, source: str, view: str = "crop", top_k: int = TOP_K) -> Analysis:
    """Decodes the upload (`vit_hybrid.images.ImageError` when it is not a usable image) and
    explains it with one forward pass and one backward per top-k class."""
    analysis, _ = begin(served, source, view, top_k=top_k, everything=True)
    return analysis


def begin(served: ServedModel, source: str, view: str = "crop", fusion: str = FUSIONS[0], top_k: int = TOP_K,
          everything: bool = False) -> tuple[Analysis, Steps | None]:
    """Decodes the upload (`ImageError` when it is not a usable image) and runs the one forward
    pass: the analysis with its predictions and gradient-free maps (rollout with the `fusion` on
    screen; `Steps.add_fusions` adds the others), and the `Steps` that add each class's maps from
    that pass. With `everything`, and always on ZeroGPU (one call), every map of the top k comes
    at once and there are no steps."""
    image = load_image(source)
    pixel_values, geometry = model_input(image, served.processor, served.model.config, view)
    steps = None
    if ZERO_GPU:
        tensors = explain_on_gpu(served.name, pixel_values, top_k, FUSIONS, DISCARD)
    elif everything:
        with COMPUTE:
            tensors = Steps(served.model, pixel_values, top_k=top_k, autocast=served.autocast).finish()
    else:
        with COMPUTE:
            steps = Steps(served.model, pixel_values, top_k=top_k, fusions=(fusion,), autocast=served.autocast)
        tensors = steps.tensors()
    explanation = assemble(served.model, tensors, pixel_values, geometry, view, top_k=top_k)
    same = served.model.config.backbone_config.global_padding == "SAME"
    return Analysis(served.name, source, view, display_image(image), explanation, same), steps


def resume(served: ServedModel, analysis: Analysis, top_k: int = TOP_K) -> Steps:
    """The `Steps` of an analysis whose stream was stopped: the forward pass run again, so that
    its pending classes can be added."""
    with COMPUTE:
        return Steps(served.model, analysis.explanation.pixel_values, top_k=top_k, fusions=(), autocast=served.autocast)


def add_class(served: ServedModel, steps: Steps, index: int) -> ClassMaps:
    """One more class's maps from the kept forward pass."""
    with COMPUTE:
        values = steps.add(index)
    return class_maps(served.model, steps.probabilities, index, values)


def ensure_class(analysis: Analysis, served: Callable[[], ServedModel], choice: MapChoice) -> tuple[Analysis, bool]:
    """The analysis with the chosen class's maps, and whether the model had to run for them
    (only a class-specific map of a class outside the explained ones needs it; `served` is
    called, and the model looked up, only then)."""
    index = choice.class_index
    if not method_of(choice).class_specific or index is None or index in analysis.explanation.classes:
        return analysis, False
    model = served()
    with COMPUTE:
        explanation = explain_class(model.model, analysis.explanation, index, model.autocast)
    return replace(analysis, explanation=explanation), True
