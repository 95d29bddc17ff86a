"""ViTHybridModel and ViTHybridForImageClassification, with the reference's arguments and outputs."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .checkpointing import set_checkpointing
from .config import ViTHybridConfig
from .encoder import ViTHybridEmbeddings, ViTHybridEncoder
from .outputs import BaseModelOutputWithPooling, ImageClassifierOutput


class ViTHybridPreTrainedModel(nn.Module):
    """Shared by both models: config validation, weight initialisation, head masks, Hub I/O, and
    the parts of transformers' `PreTrainedModel` that fine-tuning code reaches for."""

    base_model_prefix = "vit"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: ViTHybridConfig) -> None:
        if not isinstance(config, ViTHybridConfig):
            raise TypeError(f"config must be a ViTHybridConfig, got {type(config).__name__}")
        config.validate()  # before any parameter is allocated
        super().__init__()
        self.config = config

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The reference's initialisation: truncated normal (std initializer_range) for linear and
        conv weights, zero biases, unit LayerNorm/GroupNorm, truncated normal class/position tokens."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, ViTHybridEmbeddings):
            nn.init.trunc_normal_(module.position_embeddings, std=std)
            nn.init.trunc_normal_(module.cls_token, std=std)
            if module.mask_token is not None:
                module.mask_token.zero_()

    def init_weights(self) -> None:
        """(Re)initialises every parameter as a freshly built model has it."""
        self.apply(self._init_weights)

    @property
    def base_model(self) -> nn.Module:
        """The bare ViTHybridModel: `self.vit` in the classifier, the model itself otherwise."""
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Module:
        """The module that turns pixels into tokens (backbone and projection), as in transformers."""
        return self.base_model.embeddings.patch_embeddings

    def get_output_embeddings(self) -> None:
        """None: no output layer shares weights with the input embeddings."""

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """The number of parameters (those with requires_grad only, if asked). Embedding tables
        (nn.Embedding) are what exclude_embeddings leaves out; the ViT-Hybrid has none, so it
        changes nothing here, as in transformers."""
        tables = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)} if exclude_embeddings else set()
        return sum(
            p.numel() for p in self.parameters() if (p.requires_grad or not only_trainable) and id(p) not in tables
        )

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None) -> None:
        """Checkpoints each encoder layer and backbone block in training mode: activation memory
        for a second forward in the backward pass. `gradient_checkpointing_kwargs` go to
        `torch.utils.checkpoint.checkpoint` (default: use_reentrant=False)."""
        set_checkpointing(self, True, gradient_checkpointing_kwargs)

    def gradient_checkpointing_disable(self) -> None:
        set_checkpointing(self, False)

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def get_head_mask(self, head_mask: torch.Tensor | None) -> torch.Tensor | None:
        """(heads,) or (layers, heads) -> (layers, 1, heads, 1, 1) in the model's dtype."""
        if head_mask is None:
            return None
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        head_mask = torch.as_tensor(head_mask)
        if head_mask.dim() == 1 and head_mask.shape[0] == heads:
            head_mask = head_mask[None, None, :, None, None].expand(layers, -1, -1, -1, -1)
        elif head_mask.dim() == 2 and tuple(head_mask.shape) == (layers, heads):
            head_mask = head_mask[:, None, :, None, None]
        elif head_mask.dim() != 5:
            raise ValueError(
                f"head_mask must have shape ({heads},) or ({layers}, {heads}), got {tuple(head_mask.shape)}"
            )
        return head_mask.to(device=self.device, dtype=self.dtype)

    def save_pretrained(self, save_directory: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Writes config.json and model.safetensors (or pytorch_model.bin) as transformers does."""
        from .hub import save_model

        save_model(self, save_directory, safe_serialization=safe_serialization)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None, **kwargs: Any):
        """Loads a local folder or Hub id (or None, with config= and state_dict=); see
        `vit_hybrid.hub.load_model` for the options."""
        from .hub import load_model

        return load_model(cls, pretrained_model_name_or_path, **kwargs)


class ViTHybridPooler(nn.Module):
    """tanh(dense(class token))."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


class ViTHybridModel(ViTHybridPreTrainedModel):
    """The bare ViT-Hybrid: backbone, embeddings, encoder, final LayerNorm and optional pooler."""

    def __init__(self, config: ViTHybridConfig, add_pooling_layer: bool = True, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.embeddings = ViTHybridEmbeddings(config, use_mask_token=use_mask_token)
        self.encoder = ViTHybridEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTHybridPooler(config) if add_pooling_layer else None
        self.init_weights()

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool | None = None,
        return_dict: bool | None = None,
        output_backbone_states: bool = False,
        class_token_only: bool = False,
    ) -> BaseModelOutputWithPooling | tuple:
        """Runs the model on pixel_values (B, C, H, W).

        Args:
            bool_masked_pos: (B, num_patches), True where a patch is replaced by the mask token.
            head_mask: (heads,) or (layers, heads); multiplies each head's attention probabilities.
            interpolate_pos_encoding: accept any input size, resampling the position table.
            output_backbone_states: also return the stem's and every stage's feature map.
            class_token_only: last_hidden_state holds the class token alone (B, 1, hidden); the
                last layer skips the other tokens. Ignored when hidden states or attentions are asked.
        Returns:
            `BaseModelOutputWithPooling`, or its non-None fields as a tuple if return_dict=False.
        """
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.use_return_dict if return_dict is None else return_dict
        if pixel_values is None:
            raise ValueError("You have to specify pixel_values")
        if pixel_values.dim() != 4:
            raise ValueError(f"pixel_values must be (batch, channels, height, width), got {tuple(pixel_values.shape)}")
        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        embeddings, _, stage_maps = self.embeddings(pixel_values, bool_masked_pos, bool(interpolate_pos_encoding))
        head_mask = self.get_head_mask(head_mask)
        # A head mask that varies over query rows needs every row of the last layer.
        rows_masked = head_mask is not None and head_mask.shape[-2] != 1
        class_token_only = class_token_only and not (output_attentions or output_hidden_states or rows_masked)
        last, hidden_states, attentions = self.encoder(
            embeddings, head_mask, output_attentions, output_hidden_states, class_token_only
        )
        sequence_output = self.layernorm(last)
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=hidden_states,
            attentions=attentions,
            backbone_hidden_states=stage_maps if output_backbone_states else None,
        )
        return output if return_dict else output.to_tuple()


class ViTHybridForImageClassification(ViTHybridPreTrainedModel):
    """ViTHybridModel (no pooler) and a linear classifier on the final class token."""

    def __init__(self, config: ViTHybridConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.vit = ViTHybridModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.classifier.apply(self._init_weights)  # self.vit initialised itself

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool | None = None,
        return_dict: bool | None = None,
        output_backbone_states: bool = False,
    ) -> ImageClassifierOutput | tuple:
        """Logits (B, num_labels) and, with labels, the loss.

        The loss is MSE when num_labels == 1, cross-entropy for integer class indices, and BCE with
        logits for float multi-hot labels, unless config.problem_type says otherwise. Unlike the
        reference, the inferred problem type is not written back into the config.
        """
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.vit(
            pixel_values,
            head_mask=head_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            interpolate_pos_encoding=interpolate_pos_encoding,
            return_dict=True,
            output_backbone_states=output_backbone_states,
            class_token_only=True,  # the classifier reads the class token alone
        )
        logits = self.classifier(outputs.last_hidden_state[:, 0])
        output = ImageClassifierOutput(
            loss=None if labels is None else self.loss(logits, labels),
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            backbone_hidden_states=outputs.backbone_hidden_states,
        )
        return output if return_dict else output.to_tuple()

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss for `labels`, chosen as the reference chooses it."""
        labels = labels.to(logits.device)
        problem = self.config.problem_type
        if problem is None:
            if self.num_labels == 1:
                problem = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            if self.num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze())
            return F.mse_loss(logits, labels)
        if problem == "single_label_classification":
            return F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits, labels)
