"""Model outputs: dataclasses that also index like the reference's tuples (None fields skipped)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch


@dataclass
class ModelOutput:
    """Attribute access by name; `out[i]`, `keys()` and `to_tuple()` skip the fields that are None."""

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(v for v in (getattr(self, f.name) for f in fields(self)) if v is not None)

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def keys(self) -> list[str]:
        """Names of the fields that are set, in order (iterating yields them, as in transformers)."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __iter__(self):
        return iter(self.keys())


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """last_hidden_state (B, T, hidden) after the final LayerNorm; pooler_output (B, hidden);
    hidden_states: embeddings + one per layer; attentions: one (B, heads, T, T) per layer;
    backbone_hidden_states: the stem's and every stage's map (B, C, h, w), when asked for."""

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    backbone_hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class ImageClassifierOutput(ModelOutput):
    """loss (scalar, when labels are given), logits (B, num_labels), and the encoder's extras."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    backbone_hidden_states: tuple[torch.Tensor, ...] | None = None
