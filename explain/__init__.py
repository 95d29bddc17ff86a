"""Explanations of ViT-Hybrid predictions: attention rollout, raw and class-specific attention,
backbone Grad-CAM and LayerCAM, overlays on the user's image, and measures of a map's quality."""

from .cam import gradcam, layercam
from .explanation import ClassMaps, Explanation, Prediction, default_stage, explain, explain_class
from .rollout import class_attention, fuse_heads, gradient_rollout, residual_attention, rollout, rollout_maps

__all__ = [
    "ClassMaps",
    "Explanation",
    "Prediction",
    "class_attention",
    "default_stage",
    "explain",
    "explain_class",
    "fuse_heads",
    "gradcam",
    "gradient_rollout",
    "layercam",
    "residual_attention",
    "rollout",
    "rollout_maps",
]
