"""ViT-Hybrid in transformers 5: importing this module registers the model with the Auto classes.

transformers 5 dropped ViTHybrid, so its `AutoConfig`, `AutoModel`,
`AutoModelForImageClassification`, `AutoImageProcessor`, `pipeline` and `Trainer` no longer know the
checkpoints. This module registers both spellings of the model type, "vit-hybrid" (the Hub's) and
"vit_hybrid", with classes that are thin transformers shells around this package's own modules:
the same state-dict keys, the same forward code and so the same numbers. It is the only module of
the package that imports transformers (an optional extra: `pip install .[transformers]`).

When the installed transformers has a ViT-Hybrid of its own, it warns and registers nothing, so
transformers' classes are used.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import torch
import transformers
from torch import nn
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.image_processing_utils import BaseImageProcessor
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from . import config as native_config
from . import modeling as native
from . import processor as native_processor

if int(transformers.__version__.split(".")[0]) < 5:
    raise ImportError(
        f"vit_hybrid.transformers_compat needs transformers>=5 (found {transformers.__version__}, which has a "
        "ViTHybrid of its own)"
    )

MODEL_TYPES = ("vit-hybrid", "vit_hybrid")
ALIGNMENT = 64  # bytes: what PyTorch's CPU allocator gives every tensor


class ViTHybridConfig(PretrainedConfig):
    """transformers' view of `vit_hybrid.ViTHybridConfig`: our defaults and checks, the same JSON.

    Arguments are those of `vit_hybrid.ViTHybridConfig` plus transformers' own; `backbone_config`
    stays a plain dict (as config.json has it).
    """

    model_type = "vit-hybrid"

    def __init__(self, **kwargs: Any) -> None:
        # A plain __init__ works both where PretrainedConfig is a dataclass (5.25) and where not (5.0).
        ours = native_config.ViTHybridConfig(**kwargs)
        ours.validate()
        values = ours.to_dict()
        del values["model_type"]
        super().__init__(**values)

    @property
    def use_return_dict(self) -> bool:
        """`return_dict`; our forward reads this name, which transformers 5 deprecates."""
        return bool(self.return_dict)

    def to_native(self) -> native_config.ViTHybridConfig:
        """This config as `vit_hybrid.ViTHybridConfig`, to build our modules from."""
        return native_config.ViTHybridConfig.from_dict(self.to_dict())


class ViTHybridConfigUnderscore(ViTHybridConfig):
    """The same config under model_type "vit_hybrid" (AutoConfig.register needs one class per model
    type). It is named ViTHybridConfig because `AutoModel.register` matches a model's
    config_class to the registered config class by name."""

    model_type = "vit_hybrid"
    __init__ = ViTHybridConfig.__init__  # an own __init__ keeps transformers 5.25 from generating one


ViTHybridConfigUnderscore.__name__ = "ViTHybridConfig"


class ViTHybridPreTrainedModel(PreTrainedModel):
    """transformers' loading, saving and training around modules adopted from `vit_hybrid.modeling`."""

    config_class = ViTHybridConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"
    _supports_sdpa = True  # our attention runs PyTorch's fused kernel unless attentions are asked for
    # transformers' switch sets our modules' `gradient_checkpointing` and `_gradient_checkpointing_func`
    # (vit_hybrid.checkpointing): Trainer(gradient_checkpointing=True) checkpoints layers and blocks.
    supports_gradient_checkpointing = True

    get_head_mask = native.ViTHybridPreTrainedModel.get_head_mask

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Our initialisation, for modules none of whose own tensors came from the checkpoint
        (transformers 5.0 runs it again after loading)."""
        if not any(getattr(t, "_is_hf_initialized", False) for t in module.parameters(recurse=False)):
            native.ViTHybridPreTrainedModel._init_weights(self, module)

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        """transformers' `from_pretrained`, then each CPU tensor left unaligned in the memory-mapped
        checkpoint is copied to memory of its own, as our loader has it: PyTorch's CPU kernels round
        some sums on unaligned data differently (logits off in the last bit)."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        with torch.no_grad():
            for tensor in itertools.chain(model.parameters(), model.buffers()):
                if tensor.device.type == "cpu" and tensor.data_ptr() % ALIGNMENT:
                    tensor.data = tensor.data.clone()
        return loaded

    def _adopt(self, model: native.ViTHybridPreTrainedModel) -> None:
        """Takes over `model`'s submodules under their names (None ones too), so the state-dict
        keys are ours and our forward runs on this object unchanged."""
        for name, module in model._modules.items():
            self.add_module(name, module)


class ViTHybridModel(ViTHybridPreTrainedModel):
    """The bare ViT-Hybrid (`vit_hybrid.ViTHybridModel`) for `AutoModel`."""

    def __init__(self, config: ViTHybridConfig, add_pooling_layer: bool = True, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self._adopt(native.ViTHybridModel(config.to_native(), add_pooling_layer, use_mask_token))
        self.post_init()

    forward = native.ViTHybridModel.forward


class ViTHybridForImageClassification(ViTHybridPreTrainedModel):
    """The classifier (`vit_hybrid.ViTHybridForImageClassification`) for
    `AutoModelForImageClassification`, the image-classification pipeline and `Trainer`."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__(config)
        model = native.ViTHybridForImageClassification(config.to_native())
        model.vit.config = config  # so that changes to model.config reach the encoder's defaults
        self._adopt(model)
        self.num_labels = model.num_labels
        self.post_init()

    forward = native.ViTHybridForImageClassification.forward
    loss = native.ViTHybridForImageClassification.loss


class ViTHybridImageProcessor(native_processor.ViTHybridImageProcessor, BaseImageProcessor):
    """Our Pillow-based processor (the reference's numbers, no torchvision) as a transformers image
    processor, for `AutoImageProcessor` and pipelines."""

    def __init__(self, **kwargs: Any) -> None:
        # transformers passes private loading flags (5.0: _from_auto=True); they must not be saved.
        super().__init__(**{key: value for key, value in kwargs.items() if not key.startswith("_")})


def _register() -> bool:
    """Registers both model types with the Auto classes; False (with a warning) when the installed
    transformers has its own ViT-Hybrid."""
    known = [name for name in MODEL_TYPES if name in CONFIG_MAPPING_NAMES]
    if known:
        warnings.warn(
            f"transformers {transformers.__version__} has its own {' and '.join(known)}: "
            "vit_hybrid.transformers_compat registers nothing, and transformers' classes are used",
            stacklevel=3,
        )
        return False
    # Some transformers versions (5.12) offer AutoImageProcessor only with torchvision installed.
    processors = not getattr(AutoImageProcessor, "is_dummy", False)
    if not processors:
        warnings.warn(
            f"transformers {transformers.__version__} has no AutoImageProcessor without torchvision: pass "
            "image_processor=vit_hybrid.transformers_compat.ViTHybridImageProcessor.from_pretrained(...) to pipeline()",
            stacklevel=3,
        )
    for config_class in (ViTHybridConfig, ViTHybridConfigUnderscore):
        AutoConfig.register(config_class.model_type, config_class)
        AutoModel.register(config_class, ViTHybridModel)
        AutoModelForImageClassification.register(config_class, ViTHybridForImageClassification)
        if processors:
            AutoImageProcessor.register(config_class, slow_image_processor_class=ViTHybridImageProcessor)
    return True


REGISTERED: bool = _register()
"""Whether importing this module registered the model types."""
