"""Model outputs: dataclasses that are also read-only mappings, as transformers' `ModelOutput` is.

An output reads by attribute (`out.logits`), by name (`out["logits"]`) and by position (`out[0]`,
the fields that are set, in order), and is a mapping of the fields that are set (`len`, `keys`,
`items`, `values`, `in`), so code that rebuilds one from a dict (`type(out)(dict(out.items()))`,
as transformers' batched pipelines do) gets the same output back. Each output class is a pytree
node, so `torch.export` and `torch.compile` see through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch.utils import _pytree


@dataclass(eq=False)
class ModelOutput(Mapping):
    """The fields that are not None, by name and in order; see the module docstring."""

    def __post_init__(self) -> None:
        first, *rest = fields(self)
        value = getattr(self, first.name)
        if isinstance(value, Mapping) and not isinstance(value, ModelOutput) and all(
            getattr(self, f.name) is None for f in rest
        ):  # built from a dict: ImageClassifierOutput({"logits": ...})
            setattr(self, first.name, None)
            names = {f.name for f in fields(self)}
            unknown = sorted(set(value) - names)
            if unknown:
                raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(map(str, unknown))}")
            for key, item in value.items():
                setattr(self, key, item)

    def to_tuple(self) -> tuple[Any, ...]:
        """The values of the fields that are set, in order (what return_dict=False returns)."""
        return tuple(getattr(self, name) for name in self)

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self:
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and getattr(self, key, None) is not None and key in self.__dataclass_fields__

    def __iter__(self):
        return (f.name for f in fields(self) if getattr(self, f.name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Registers each output class with torch's pytree (children: every field, None included)."""
        super().__init_subclass__(**kwargs)
        _pytree.register_pytree_node(
            cls,
            lambda out: ([getattr(out, f.name) for f in fields(out)], None),
            lambda values, _: cls(*values),
            serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
        )


@dataclass(eq=False)
class BaseModelOutputWithPooling(ModelOutput):
    """last_hidden_state (B, T, hidden) after the final LayerNorm; pooler_output (B, hidden);
    hidden_states: embeddings + one per layer; attentions: one (B, heads, T, T) per layer;
    backbone_hidden_states: the stem's and every stage's map (B, C, h, w), when asked for."""

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    backbone_hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass(eq=False)
class ImageClassifierOutput(ModelOutput):
    """loss (scalar, when labels are given), logits (B, num_labels), and the encoder's extras."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    backbone_hidden_states: tuple[torch.Tensor, ...] | None = None
