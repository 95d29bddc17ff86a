"""Explanations of ViT-Hybrid predictions: rollout, raw attention, gradient rollout, Grad-CAM and
LayerCAM (the method registry, `explain.methods`), overlays on the user's image, exports, and
measures of a map's quality. Imports torch and vit_hybrid, never a UI."""

from .cam import gradcam, layercam
from .explanation import ClassMaps, Explanation, Prediction, explain, explain_class
from .methods import METHODS, MapChoice, Method, default_stage, register
from .rollout import fuse_heads, gradient_rollout, raw_attention, residual_attention, rollout, rollout_maps

__all__ = [
    "METHODS",
    "ClassMaps",
    "Explanation",
    "MapChoice",
    "Method",
    "Prediction",
    "default_stage",
    "explain",
    "explain_class",
    "fuse_heads",
    "gradcam",
    "gradient_rollout",
    "layercam",
    "raw_attention",
    "register",
    "residual_attention",
    "rollout",
    "rollout_maps",
]
