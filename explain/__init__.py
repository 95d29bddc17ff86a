"""The explanation library: one forward pass of a ViT-Hybrid and every map it gives (rollout, raw
attention, gradient rollout, Grad-CAM, LayerCAM: the method registry, `explain.methods`), one image
at a time or batched. Imports torch and vit_hybrid only; drawing and export (`explain.draw`),
measuring (`explain.measure`), the dataset runner (`explain.dataset`) and the scene benchmark
(`explain.benchmark`) are its clients."""

from .batch import explain_batch
from .cam import gradcam, layercam
from .classes import classes_named
from .explanation import (
    ClassMaps,
    Explanation,
    Prediction,
    Steps,
    assemble,
    class_maps,
    explain,
    explain_class,
    explain_classes,
    merge_maps,
)
from .inputs import MAX_TOKENS, VIEWS, model_input
from .methods import LAYER, METHODS, STAGE, MapChoice, Method, default_stage, register
from .passes import Activations, ForwardPass, Gradients, graph_bytes
from .rollout import (
    DISCARD,
    FUSIONS,
    fuse_heads,
    gradient_rollout,
    raw_attention,
    residual_attention,
    rollout,
    rollout_maps,
)

__all__ = [
    "DISCARD",
    "FUSIONS",
    "LAYER",
    "MAX_TOKENS",
    "METHODS",
    "STAGE",
    "VIEWS",
    "Activations",
    "ClassMaps",
    "Explanation",
    "ForwardPass",
    "Gradients",
    "MapChoice",
    "Method",
    "Prediction",
    "Steps",
    "assemble",
    "class_maps",
    "classes_named",
    "default_stage",
    "explain",
    "explain_batch",
    "explain_class",
    "explain_classes",
    "fuse_heads",
    "gradcam",
    "gradient_rollout",
    "graph_bytes",
    "layercam",
    "merge_maps",
    "model_input",
    "raw_attention",
    "register",
    "residual_attention",
    "rollout",
    "rollout_maps",
]
