"""Configurations of the BiT backbone and the ViT-Hybrid, read and written as the Hub's config.json.

Field names, defaults and the JSON layout are those of transformers 4.46.3 (`BitConfig`,
`ViTHybridConfig`), so Hub checkpoints load unchanged and what we save loads in transformers too.
Keys we do not know are kept and written back. Every value is checked before a model is built, so
a hostile or mistaken config.json fails with a clear message instead of an allocation.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, ClassVar

from .files import CONFIG_NAME
from .jsonfile import ConfigError, find_json, json_text, read_json, save_in

# Hard limits, far above any real ViT-Hybrid, that stop a config from asking for absurd memory.
MAX_DIM = 65_536
MAX_LAYERS = 1_024
MAX_LABELS = 1_000_000
MAX_PARAMETERS = 4_000_000_000

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "relu", "selu", "silu", "swish")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


def _check_int_list(name: str, value: Any, length: int | None, low: int, high: int) -> None:
    if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
        want = f"a list of {length} integers" if length is not None else "a list of integers"
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    for i, v in enumerate(value):
        _check_int(f"{name}[{i}]", v, low, high)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a channel count to a multiple of `divisor` as BiT does (`make_div` in the reference)."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


# The attributes every transformers config has (PretrainedConfig's), with its defaults. Like
# transformers, config.json holds one only where it differs, so a saved Hub config stays as it was.
COMMON: dict[str, Any] = {
    "architectures": None,
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict": True,
    "torchscript": False,
    "is_encoder_decoder": False,
    "tie_word_embeddings": True,
    "problem_type": None,
}


class _JsonConfig:
    """Shared plumbing: known fields as attributes, unknown keys kept in `extra`, JSON round trip,
    config.json in a folder or a Hub repo."""

    model_type: ClassVar[str] = ""
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self.extra: dict[str, Any] = {}
        for key, default in {**COMMON, **self._defaults}.items():
            setattr(self, key, copy.deepcopy(kwargs.pop(key, default)))
        kwargs.pop("model_type", None)
        self.extra.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        """Keys kept in `extra` read as attributes too (`config.torch_dtype`), as in transformers."""
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """An attribute that is no field goes into `extra`, so that it is saved, as in transformers."""
        if name.startswith("_") or name == "extra" or name in self.field_names() or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self.extra[name] = value

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The keys this config takes as fields (any other key is kept in `extra`)."""
        return frozenset(COMMON) | frozenset(cls._defaults)

    @property
    def use_return_dict(self) -> bool:
        """Whether models return output objects: `return_dict`, unless `torchscript` asks for tuples."""
        return bool(self.return_dict) and not self.torchscript

    def to_dict(self) -> dict[str, Any]:
        """The config with every field (plain JSON types)."""
        out = {key: copy.deepcopy(getattr(self, key)) for key in {**COMMON, **self._defaults}}
        out.update(copy.deepcopy(self.extra))
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    def to_diff_dict(self) -> dict[str, Any]:
        """The config as config.json holds it: the common attributes only where they differ."""
        return {k: v for k, v in self.to_dict().items() if k not in COMMON or v != COMMON[k]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any):
        """Builds a config from a config.json dictionary; `overrides` replace its values."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        return cls(**{**data, **overrides})

    def to_json_string(self, use_diff: bool = True) -> str:
        """config.json's text: the diff form, or every field with use_diff=False."""
        return json_text(self.to_diff_dict() if use_diff else self.to_dict())

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        """Writes `to_json_string` to a file."""
        Path(json_file_path).write_text(self.to_json_string(use_diff), encoding="utf-8")

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Writes config.json into `save_directory` (created if needed; a file there is refused)."""
        save_in(save_directory, CONFIG_NAME, self.to_diff_dict())

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any):
        """Reads a config.json; a file that is not a JSON object gets a `ConfigError` naming it."""
        return cls.from_dict(cls._own_part(read_json(path)), **overrides)

    @classmethod
    def _own_part(cls, data: Any) -> Any:
        """The part of a config.json that is this class's config (all of it, here)."""
        return data

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Reads config.json from a folder, a Hub repo id or the file's own path. The Hub options
        (`vit_hybrid.resolve.HUB_OPTIONS`) say where it is; other keywords replace config values."""
        return cls.from_dict(cls._own_part(find_json(pretrained_model_name_or_path, CONFIG_NAME, kwargs)), **kwargs)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


class BitConfig(_JsonConfig):
    """The BiT ResNetV2 backbone. Defaults are the reference `BitConfig`'s (a preactivation BiT-50).

    Only `layer_type="bottleneck"` (the non-preactivation block the ViT-Hybrid uses) can be built;
    `global_padding` "same" gives TensorFlow-style dynamic padding, None or "valid" PyTorch's.
    """

    model_type = "bit"
    layer_types = ("preactivation", "bottleneck")
    _defaults = {
        "num_channels": 3,
        "embedding_size": 64,
        "hidden_sizes": [256, 512, 1024, 2048],
        "depths": [3, 4, 6, 3],
        "layer_type": "preactivation",
        "hidden_act": "relu",
        "global_padding": None,
        "num_groups": 32,
        "drop_path_rate": 0.0,
        "embedding_dynamic_padding": False,
        "output_stride": 32,
        "width_factor": 1,
        "out_features": None,
        "out_indices": None,
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("stage_names", None)  # derived from depths
        super().__init__(**kwargs)
        self.depths = list(self.depths)
        self.hidden_sizes = list(self.hidden_sizes)
        if isinstance(self.global_padding, str):
            self.global_padding = self.global_padding.upper()
        self.out_features, self.out_indices = self._aligned_outputs(self.out_features, self.out_indices)

    @property
    def stage_names(self) -> list[str]:
        return ["stem"] + [f"stage{i}" for i in range(1, len(self.depths) + 1)]

    def _aligned_outputs(self, features: Any, indices: Any) -> tuple[list[str], list[int]]:
        names = self.stage_names
        if features is None and indices is None:
            return [names[-1]], [len(names) - 1]
        if features is not None:
            if not isinstance(features, (list, tuple)) or any(f not in names for f in features):
                raise ConfigError(f"out_features must be stage names among {names}, got {features!r}")
            return list(features), [names.index(f) for f in features]
        if not isinstance(indices, (list, tuple)) or any(
            isinstance(i, bool) or not isinstance(i, int) or not -len(names) <= i < len(names) for i in indices
        ):
            raise ConfigError(f"out_indices must be indices into {names}, got {indices!r}")
        return [names[i] for i in indices], [i % len(names) for i in indices]

    def feature_stride(self) -> int:
        """Input pixels per cell of the last out_features map: 4 after the stem, doubling per
        stage after the first, never past output_stride (beyond it stages dilate instead)."""
        index = self.out_indices[-1]
        return min(4 * 2 ** max(0, index - 1), max(4, self.output_stride))

    def stage_channels(self) -> list[int]:
        """Output channels of each stage (after `width_factor` rounding)."""
        return [make_divisible(h * self.width_factor) for h in self.hidden_sizes[: len(self.depths)]]

    def validate(self) -> None:
        """Raises `ConfigError` when a value is of the wrong type or impossible."""
        _check_int("backbone_config.num_channels", self.num_channels, 1, 64)
        _check_int("backbone_config.embedding_size", self.embedding_size, 1, MAX_DIM)
        _check_int_list("backbone_config.depths", self.depths, None, 1, 1_000)
        if not 1 <= len(self.depths) <= 8:
            raise ConfigError(f"backbone_config.depths must name 1 to 8 stages, got {self.depths}")
        _check_int_list("backbone_config.hidden_sizes", self.hidden_sizes, None, 1, MAX_DIM)
        if len(self.hidden_sizes) < len(self.depths):
            raise ConfigError("backbone_config.hidden_sizes needs one size per stage of depths")
        _check_int("backbone_config.num_groups", self.num_groups, 1, MAX_DIM)
        _check_float("backbone_config.width_factor", self.width_factor, 1e-3, 64)
        _check_int("backbone_config.output_stride", self.output_stride, 1, 1 << 20)
        _check_float("backbone_config.drop_path_rate", self.drop_path_rate, 0.0, 1.0)
        if self.layer_type not in self.layer_types:
            raise ConfigError(f"layer_type={self.layer_type!r} is not one of {', '.join(self.layer_types)}")
        if self.layer_type != "bottleneck":
            raise ConfigError(
                f"layer_type={self.layer_type!r}: only 'bottleneck' BiT blocks (those of the ViT-Hybrid) are supported"
            )
        if self.global_padding not in (None, "SAME", "VALID"):
            raise ConfigError(f"global_padding must be 'same', 'valid' or None, got {self.global_padding!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"backbone_config.hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        normed = [self.embedding_size] + [make_divisible(c * 0.25) for c in self.stage_channels()]
        for channels in normed + self.stage_channels():
            if channels % self.num_groups:
                raise ConfigError(f"backbone_config.num_groups={self.num_groups} does not divide {channels} channels")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["stage_names"] = self.stage_names
        return out

    def nested_diff_dict(self, defaults: BitConfig) -> dict[str, Any]:
        """This config inside a ViT-Hybrid's config.json, as transformers writes it: the keys that
        differ from a plain BitConfig's or from the ViT-Hybrid's default backbone (`defaults`)."""
        plain, default = BitConfig().to_dict(), defaults.to_dict()
        return {
            k: v for k, v in self.to_dict().items()
            if k == "model_type" or k not in plain or v != plain[k] or v != default.get(k)
        }

    @classmethod
    def _own_part(cls, data: Any) -> Any:
        """A ViT-Hybrid's config.json holds the backbone's config under backbone_config."""
        if isinstance(data, dict) and data.get("model_type") == ViTHybridConfig.model_type:
            return data.get("backbone_config") or {}
        return data


class ViTHybridConfig(_JsonConfig):
    """The ViT-Hybrid: a BiT backbone whose last `out_features` map becomes the transformer's tokens.

    Defaults are the reference code's (which match google/vit-hybrid-base-bit-384 but for
    image_size 224 and 2 labels). `backbone_featmap_shape` sizes the position table: the token
    grid at `image_size` is `backbone_featmap_shape[-2:] // patch_size`.
    """

    model_type = "vit-hybrid"
    _defaults = {
        "backbone_config": None,
        "backbone": None,
        "use_pretrained_backbone": False,
        "use_timm_backbone": False,
        "backbone_kwargs": None,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "image_size": 224,
        "patch_size": 1,
        "num_channels": 3,
        "backbone_featmap_shape": [1, 1024, 24, 24],
        "qkv_bias": True,
    }
    _hub_backbone = {
        "global_padding": "same",
        "layer_type": "bottleneck",
        "depths": [3, 4, 9],
        "out_features": ["stage3"],
        "embedding_dynamic_padding": True,
    }

    def __init__(self, **kwargs: Any) -> None:
        id2label = kwargs.pop("id2label", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("label2id", None)  # derived from id2label
        attention = kwargs.pop("attn_implementation", None) or ATTENTION_IMPLEMENTATIONS[0]
        if attention not in ATTENTION_IMPLEMENTATIONS:
            raise ConfigError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {attention!r}")
        self._attn_implementation = attention  # how the model runs, not part of config.json
        super().__init__(**kwargs)
        if self.backbone is not None or self.use_pretrained_backbone or self.use_timm_backbone:
            raise ConfigError("only a BiT backbone given by backbone_config is supported")
        if self.backbone_config is None:
            self.backbone_config = BitConfig(**self._hub_backbone)
        elif isinstance(self.backbone_config, dict):
            if self.backbone_config.get("model_type", "bit") != "bit":
                raise ConfigError(f"backbone model_type {self.backbone_config['model_type']!r} is not supported")
            self.backbone_config = BitConfig.from_dict(self.backbone_config)
        elif not isinstance(self.backbone_config, BitConfig):
            raise ConfigError(f"backbone_config must be a dict or BitConfig, got {type(self.backbone_config).__name__}")
        self.backbone_featmap_shape = list(self.backbone_featmap_shape)
        if id2label is None:
            id2label = {i: f"LABEL_{i}" for i in range(2 if num_labels is None else num_labels)}
        elif not isinstance(id2label, dict):
            raise ConfigError(f"id2label must be a mapping of class index to name, got {type(id2label).__name__}")
        try:
            self.id2label = {int(k): str(v) for k, v in id2label.items()}
        except ValueError as err:
            raise ConfigError(f"id2label keys must be class indices: {err}") from None
        if num_labels is not None and num_labels != len(self.id2label):
            self.num_labels = num_labels

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        _check_int("num_labels", value, 0, MAX_LABELS)
        self.id2label = {i: f"LABEL_{i}" for i in range(value)}

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    @property
    def token_grid(self) -> tuple[int, int]:
        """The position table's token grid (height, width), as the checkpoint stores it."""
        h, w = self.backbone_featmap_shape[-2:]
        return h // self.patch_size, w // self.patch_size

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The backbone stages whose maps explanations use: all after the stem, up to the one that
        becomes the tokens (("stage1", "stage2", "stage3") for the Hub model)."""
        bit = self.backbone_config
        return tuple(bit.stage_names[1 : max(bit.out_indices) + 1])

    @property
    def token_stride(self) -> int:
        """Input pixels per token along each side: the backbone's stride times the patch size (16
        for the BiT hybrids)."""
        return self.backbone_config.feature_stride() * self.patch_size

    def token_grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The token grid (h, w) of an input of `height` x `width` pixels: the backbone's map is
        ceil(size / stride) cells (each stride-2 step rounds up, "SAME" or not), then cut into
        patches."""
        stride = self.backbone_config.feature_stride()
        return math.ceil(height / stride) // self.patch_size, math.ceil(width / stride) // self.patch_size

    def estimated_parameters(self) -> int:
        """An upper estimate of the parameter count, computed without allocating anything."""
        bit = self.backbone_config
        chans = bit.stage_channels()
        backbone = bit.num_channels * bit.embedding_size * 49
        prev = bit.embedding_size
        for depth, out in zip(bit.depths, chans):
            mid = make_divisible(out * 0.25)
            backbone += prev * out + depth * (prev * mid + 9 * mid * mid + mid * out)
            prev = out
        h, i = self.hidden_size, self.intermediate_size
        tokens = self.token_grid[0] * self.token_grid[1] + 1
        encoder = self.num_hidden_layers * (4 * h * h + 2 * h * i + 9 * h + i)
        return backbone + self.backbone_featmap_shape[1] * h * self.patch_size**2 + tokens * h + encoder + h * (
            h + self.num_labels + 4
        )

    def validate(self) -> None:
        """Raises `ConfigError` for wrong types and impossible values, before any allocation."""
        self.backbone_config.validate()
        _check_int("hidden_size", self.hidden_size, 1, MAX_DIM)
        _check_int("num_hidden_layers", self.num_hidden_layers, 0, MAX_LAYERS)
        _check_int("num_attention_heads", self.num_attention_heads, 1, MAX_DIM)
        _check_int("intermediate_size", self.intermediate_size, 1, 8 * MAX_DIM)
        _check_int("image_size", self.image_size, 1, MAX_DIM)
        _check_int("patch_size", self.patch_size, 1, MAX_DIM)
        _check_int("num_channels", self.num_channels, 1, 64)
        _check_int_list("backbone_featmap_shape", self.backbone_featmap_shape, 4, 1, MAX_DIM)
        _check_float("hidden_dropout_prob", self.hidden_dropout_prob, 0.0, 1.0)
        _check_float("attention_probs_dropout_prob", self.attention_probs_dropout_prob, 0.0, 1.0)
        _check_float("initializer_range", self.initializer_range, 0.0, 10.0)
        _check_float("layer_norm_eps", self.layer_norm_eps, 0.0, 1.0)
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if not isinstance(self.qkv_bias, bool):
            raise ConfigError(f"qkv_bias must be true or false, got {self.qkv_bias!r}")
        if self.problem_type not in (None,) + PROBLEM_TYPES:
            raise ConfigError(f"problem_type must be one of {PROBLEM_TYPES} or null, got {self.problem_type!r}")
        if self.num_channels != self.backbone_config.num_channels:
            raise ConfigError("num_channels differs from backbone_config.num_channels")
        feature_channels = self.backbone_config.stage_channels() + [self.backbone_config.embedding_size]
        last = self.backbone_config.out_indices[-1]
        expected = self.backbone_config.embedding_size if last == 0 else feature_channels[last - 1]
        if self.backbone_featmap_shape[1] != expected:
            raise ConfigError(
                f"backbone_featmap_shape[1]={self.backbone_featmap_shape[1]} but the backbone's "
                f"{self.backbone_config.out_features[-1]} has {expected} channels"
            )
        if min(self.token_grid) < 1:
            raise ConfigError("backbone_featmap_shape is smaller than one patch")
        params = self.estimated_parameters()
        if params > MAX_PARAMETERS:
            raise ConfigError(f"this config asks for about {params:,} parameters (limit {MAX_PARAMETERS:,})")

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["backbone_config"] = self.backbone_config.to_dict()
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = self.label2id
        return dict(sorted(out.items()))

    def to_diff_dict(self) -> dict[str, Any]:
        out = super().to_diff_dict()
        out["backbone_config"] = self.backbone_config.nested_diff_dict(BitConfig(**self._hub_backbone))
        return out

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return super().field_names() | {"num_labels", "id2label", "label2id", "attn_implementation"}


def hub_architecture(num_labels: int = 1000) -> ViTHybridConfig:
    """The architecture of google/vit-hybrid-base-bit-384 (384 px, 12 layers, BiT with 3, 4 and 9
    blocks), without its weights: a stand-in of the same size and speed for benchmarks and tests
    where the Hub cannot be reached."""
    return ViTHybridConfig(image_size=384, num_labels=num_labels)
