"""The ViT-Hybrid's embeddings and transformer encoder, top to bottom.

Tokens come from the backbone's last feature map through a `patch_size` convolution; a class token
and position embeddings are added (the table is resampled when the token grid differs from the
one it was trained for). Module names follow the reference checkpoint (`attention.attention.query`,
`layernorm_before`, ...). Attention probabilities are computed explicitly only when they are asked
for; otherwise PyTorch's fused scaled-dot-product kernel runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .activations import activation
from .backbone import BitBackbone
from .checkpointing import Checkpointing
from .config import ViTHybridConfig


class ViTHybridPatchEmbeddings(nn.Module):
    """Backbone, then a `patch_size` conv from the feature channels to `hidden_size`."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.image_size = config.image_size
        self.num_channels = config.num_channels
        self.backbone = BitBackbone(config.backbone_config)
        self.projection = nn.Conv2d(
            config.backbone_featmap_shape[1], config.hidden_size, config.patch_size, config.patch_size
        )

    def forward(
        self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False
    ) -> tuple[torch.Tensor, tuple[int, int], tuple[torch.Tensor, ...]]:
        """Returns tokens (B, N, hidden), their grid (h, w) and every backbone stage map."""
        _, channels, height, width = pixel_values.shape
        if channels != self.num_channels:
            raise ValueError(f"pixel_values has {channels} channel(s); the model expects {self.num_channels} channels")
        if not interpolate_pos_encoding and (height, width) != (self.image_size, self.image_size):
            raise ValueError(
                f"Input image size ({height}*{width}) doesn't match model ({self.image_size}*{self.image_size}); "
                "pass interpolate_pos_encoding=True to use another size."
            )
        features, stage_maps = self.backbone(pixel_values)
        tokens = self.projection(features[-1])  # (B, hidden, h, w)
        grid = (tokens.shape[-2], tokens.shape[-1])
        return tokens.flatten(2).transpose(1, 2), grid, stage_maps  # (B, h*w, hidden)


class ViTHybridEmbeddings(nn.Module):
    """Patch tokens, optional mask tokens, the class token, and position embeddings."""

    def __init__(self, config: ViTHybridConfig, use_mask_token: bool = False) -> None:
        super().__init__()
        self.table_grid = config.token_grid
        num_positions = self.table_grid[0] * self.table_grid[1] + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if use_mask_token else None
        self.patch_embeddings = ViTHybridPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(torch.zeros(1, num_positions, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def position_embeddings_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position table for a token grid (h, w): bicubic resampling (align_corners=False) of
        the patch positions, the class position unchanged; the table itself at its own grid."""
        if tuple(grid) == self.table_grid:
            return self.position_embeddings
        table = self.position_embeddings
        dim = table.shape[-1]
        patch = table[:, 1:].reshape(1, *self.table_grid, dim).permute(0, 3, 1, 2)  # (1, dim, H0, W0)
        patch = F.interpolate(patch.float(), size=tuple(grid), mode="bicubic", align_corners=False).to(table.dtype)
        patch = patch.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], dim)
        return torch.cat((table[:, :1], patch), dim=1)

    def forward(
        self,
        pixel_values: torch.Tensor,
        bool_masked_pos: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
    ) -> tuple[torch.Tensor, tuple[int, int], tuple[torch.Tensor, ...]]:
        """Returns embeddings (B, 1 + h*w, hidden), the token grid (h, w) and the backbone maps."""
        tokens, grid, stage_maps = self.patch_embeddings(pixel_values, interpolate_pos_encoding)
        batch, length, _ = tokens.shape
        if bool_masked_pos is not None:
            if self.mask_token is None:
                raise ValueError("bool_masked_pos needs a model built with use_mask_token=True")
            if tuple(bool_masked_pos.shape) != (batch, length):
                raise ValueError(f"bool_masked_pos must have shape {(batch, length)}, got {tuple(bool_masked_pos.shape)}")
            mask = bool_masked_pos.unsqueeze(-1).type_as(tokens)  # (B, N, 1)
            tokens = tokens * (1.0 - mask) + self.mask_token.expand(batch, length, -1) * mask
        embeddings = torch.cat((self.cls_token.expand(batch, -1, -1), tokens), dim=1)
        if not interpolate_pos_encoding and tuple(grid) != self.table_grid:
            raise ValueError(
                f"this input gives a {grid[0]}x{grid[1]} token grid but the position table is "
                f"{self.table_grid[0]}x{self.table_grid[1]} (config.backbone_featmap_shape); "
                "pass interpolate_pos_encoding=True to resample it"
            )
        embeddings = embeddings + self.position_embeddings_for(grid)
        return self.dropout(embeddings), grid, stage_maps


def explicit(output_attentions: bool, head_mask: torch.Tensor | None) -> bool:
    """Whether attention must compute its probabilities: when they are asked for, or a head_mask
    varies along the tokens (the fused kernel can only scale each head's output)."""
    return output_attentions or (head_mask is not None and head_mask.shape[-2:] != (1, 1))


class ViTHybridSelfAttention(nn.Module):
    """Multi-head self-attention. (A single fused q/k/v projection was measured slower on CPU.)"""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = config.hidden_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size, bias=config.qkv_bias)
        self.key = nn.Linear(config.hidden_size, self.all_head_size, bias=config.qkv_bias)
        self.value = nn.Linear(config.hidden_size, self.all_head_size, bias=config.qkv_bias)
        self.dropout_prob = config.attention_probs_dropout_prob

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape  # (B, T, hidden) -> (B, heads, T, d)
        return x.view(batch, length, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def _project(self, hidden_states: torch.Tensor, num_queries: int | None) -> tuple[torch.Tensor, ...]:
        queries = hidden_states if num_queries is None else hidden_states[:, :num_queries]
        query = self._heads(self.query(queries))  # (B, heads, Q, d)
        key = self._heads(self.key(hidden_states))  # (B, heads, T, d)
        return query, key, self._heads(self.value(hidden_states))

    def probabilities(
        self, hidden_states: torch.Tensor, head_mask: torch.Tensor | None = None, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention probabilities (B, heads, Q, T), after dropout and head_mask, and the values
        (B, heads, T, d) they weigh: the first half of the explicit path."""
        query, key, value = self._project(hidden_states, num_queries)
        # Scaling the queries (Q x d) rather than the scores (Q x T) saves a pass over the largest
        # tensor; for d = 64 the scale is a power of two and the values are bit-identical.
        scores = torch.matmul(query * (1.0 / math.sqrt(self.attention_head_size)), key.transpose(-1, -2))
        probs = F.dropout(scores.softmax(dim=-1), self.dropout_prob, self.training)
        return (probs if head_mask is None else probs * head_mask), value

    def context(self, probs: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The probabilities' weighted values, heads joined: (B, Q, hidden)."""
        context = torch.matmul(probs, value)  # (B, heads, Q, d)
        return context.transpose(1, 2).reshape(probs.shape[0], probs.shape[2], self.all_head_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        num_queries: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the context (B, Q, hidden) and, if asked, the probabilities (B, heads, Q, T).

        Q is T, or `num_queries` when only the first tokens' outputs are needed (the classifier's
        last layer needs the class token alone). head_mask multiplies the probabilities of each
        head, on the fused path too (there it scales each head's context: the same product).
        """
        if explicit(output_attentions, head_mask):
            probs, value = self.probabilities(hidden_states, head_mask, num_queries)
            return self.context(probs, value), probs
        query, key, value = self._project(hidden_states, num_queries)
        dropout = self.dropout_prob if self.training else 0.0
        context = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout)
        if head_mask is not None:
            context = context * head_mask
        return context.transpose(1, 2).reshape(query.shape[0], query.shape[2], self.all_head_size), None


class ViTHybridSelfOutput(nn.Module):
    """The attention's output projection (the residual is added by the layer)."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class ViTHybridAttention(nn.Module):
    """Self-attention and its output projection, named as in the checkpoint."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.attention = ViTHybridSelfAttention(config)
        self.output = ViTHybridSelfOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        num_queries: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, probs = self.attention(hidden_states, head_mask, output_attentions, num_queries)
        return self.output(context), probs


class ViTHybridIntermediate(nn.Module):
    """First MLP layer and its activation."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class ViTHybridOutput(nn.Module):
    """Second MLP layer, dropout and the residual."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states)) + residual


class ViTHybridLayer(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.attention = ViTHybridAttention(config)
        self.intermediate = ViTHybridIntermediate(config)
        self.output = ViTHybridOutput(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def attend(
        self, hidden_states: torch.Tensor, head_mask: torch.Tensor | None = None, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The explicit path's first half, up to the attention probabilities: (probs, values).
        Compiled on its own (`vit_hybrid.compile`), it ends where gradients are asked for."""
        return self.attention.attention.probabilities(self.layernorm_before(hidden_states), head_mask, num_queries)

    def finish(self, hidden_states: torch.Tensor, probs: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The explicit path's second half: the context, its projection, the residual, the MLP."""
        attended = self.attention.output(self.attention.attention.context(probs, value))
        return self.mlp(attended + hidden_states[:, : attended.shape[1]])

    def mlp(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """x + MLP(LN(x))."""
        return self.output(self.intermediate(self.layernorm_after(hidden_states)), hidden_states)

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        num_queries: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the block's output for every token, or for the first `num_queries` tokens, and
        the attention probabilities when they are computed (explicitly: see `explicit`)."""
        if explicit(output_attentions, head_mask):
            probs, value = self.attend(hidden_states, head_mask, num_queries)
            return self.finish(hidden_states, probs, value), probs
        attended, _ = self.attention(self.layernorm_before(hidden_states), head_mask, False, num_queries)
        return self.mlp(attended + hidden_states[:, : attended.shape[1]]), None


class ViTHybridEncoder(Checkpointing, nn.Module):
    """The stack of transformer layers (each checkpointed when gradient checkpointing is on)."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList(ViTHybridLayer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self,
        hidden_states: torch.Tensor,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        class_token_only: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        """Returns the last hidden state, the hidden states (input + one per layer) and the
        attention probabilities (one per layer), each tuple None unless asked for.

        head_mask: None, or (num_layers, ...) broadcastable to (B, heads, T, T) per layer.
        class_token_only: the last layer computes the class token's output alone (B, 1, hidden),
            which is all a classifier reads: the same values for a twelfth less work.
        With config._attn_implementation "eager", attention always computes its probabilities
        (as transformers' eager attention does); "sdpa" uses the fused kernel where it can.
        """
        all_hidden = [hidden_states] if output_hidden_states else None
        all_probs = [] if output_attentions else None
        last = len(self.layer) - 1
        eager = output_attentions or self.config._attn_implementation == "eager"  # probabilities computed
        for i, layer in enumerate(self.layer):
            num_queries = 1 if class_token_only and i == last else None
            layer_mask = None if head_mask is None else head_mask[i]
            hidden_states, probs = self.run(layer, hidden_states, layer_mask, eager, num_queries)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_probs.append(probs)
        return (
            hidden_states,
            None if all_hidden is None else tuple(all_hidden),
            None if all_probs is None else tuple(all_probs),
        )
