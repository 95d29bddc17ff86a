"""A standalone PyTorch home for the ViT-Hybrid (BiT backbone + ViT encoder) and its checkpoints."""

from .config import BitConfig, ConfigError, ViTHybridConfig
from .modeling import ViTHybridForImageClassification, ViTHybridModel, ViTHybridPreTrainedModel
from .outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from .processor import ViTHybridImageProcessor

__all__ = [
    "BaseModelOutputWithPooling",
    "BitConfig",
    "ConfigError",
    "ImageClassifierOutput",
    "ViTHybridConfig",
    "ViTHybridForImageClassification",
    "ViTHybridImageProcessor",
    "ViTHybridModel",
    "ViTHybridPreTrainedModel",
]
