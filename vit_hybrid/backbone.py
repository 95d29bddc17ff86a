"""The BiT ResNetV2 backbone of the ViT-Hybrid, read top to bottom in the order data meets it.

Weight-standardised convolutions, GroupNorm and TensorFlow "SAME" padding, as transformers 4.46.3's
`BitBackbone` with `layer_type="bottleneck"`. Module names follow its checkpoint keys
(`bit.embedder.convolution`, `bit.encoder.stages.N.layers.M.conv1`, ...). The forward returns every
stage's map (stem, stage1, ...), so explanations reach them and their gradients without hooks.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .activations import activation
from .cache import DerivedWeights
from .checkpointing import Checkpointing
from .config import BitConfig, make_divisible


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one dimension: output size ceil(size / stride)."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int, dilation: int = 1, value: float = 0.0) -> torch.Tensor:
    """Pads a (B, C, H, W) map so that a convolution or pool gives TensorFlow "SAME" output."""
    top, bottom = same_padding(x.shape[-2], kernel, stride, dilation)
    left, right = same_padding(x.shape[-1], kernel, stride, dilation)
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


class WeightStandardizedConv2d(DerivedWeights, nn.Conv2d):
    """Conv2d whose weight is standardised per output channel (zero mean, unit variance) each call.

    padding "SAME" is static when it can be (stride 1, odd kernel) and dynamic otherwise; "VALID"
    is none; None is PyTorch's symmetric default. The standardised weight is cached in eval mode.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: str | None = "SAME",
        dilation: int = 1,
        eps: float = 1e-8,
    ) -> None:
        symmetric = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        mode = padding.upper() if isinstance(padding, str) else padding
        self.dynamic_padding = mode == "SAME" and not (stride == 1 and (dilation * (kernel_size - 1)) % 2 == 0)
        static = 0 if mode == "VALID" or self.dynamic_padding else symmetric
        super().__init__(in_channels, out_channels, kernel_size, stride, static, dilation, bias=False)
        self.eps = eps

    def standardized_weight(self) -> torch.Tensor:
        """The weight standardised as the reference does it (batch_norm over in*k*k, biased var)."""
        w = self.weight
        std = F.batch_norm(w.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=self.eps)
        return std.reshape_as(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic_padding:
            x = pad_same(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        weight = self.derived("weight", (self.weight,), self.standardized_weight)
        return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation)


class BitGroupNormActivation(nn.GroupNorm):
    """GroupNorm (eps 1e-5) followed by the backbone's activation, or none."""

    def __init__(self, config: BitConfig, num_channels: int, apply_activation: bool = True) -> None:
        super().__init__(config.num_groups, num_channels, eps=1e-5)
        self.act = activation(config.hidden_act, inplace=True) if apply_activation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return self.act(x) if self.act is not None else x


class BitMaxPool2d(nn.Module):
    """3x3 stride-2 max pool, with TensorFlow "SAME" padding when `dynamic_padding` (pads with 0,
    which equals -inf here since it follows a ReLU, as in the reference)."""

    def __init__(self, dynamic_padding: bool) -> None:
        super().__init__()
        self.dynamic_padding = dynamic_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic_padding:
            x = pad_same(x, 3, 2)
        return F.max_pool2d(x, 3, 2)


class BitEmbeddings(nn.Module):
    """The stem: 7x7 stride-2 conv, GroupNorm + ReLU, 3x3 stride-2 max pool (overall stride 4)."""

    def __init__(self, config: BitConfig) -> None:
        super().__init__()
        self.convolution = WeightStandardizedConv2d(
            config.num_channels, config.embedding_size, 7, stride=2, padding=config.global_padding
        )
        self.pooler = BitMaxPool2d(config.embedding_dynamic_padding)
        # Without "SAME" padding the reference pads the conv output by one pixel on every side.
        self.extra_pad = config.global_padding != "SAME"
        self.norm = BitGroupNormActivation(config, config.embedding_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.convolution(pixel_values)  # (B, C, H/2, W/2)
        if self.extra_pad:
            x = F.pad(x, (1, 1, 1, 1))
        return self.pooler(self.norm(x))  # (B, C, H/4, W/4)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zeroes whole samples of a residual branch while training."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep) * mask


class BitDownsampleConv(nn.Module):
    """The projection shortcut of a stage's first block: 1x1 conv (with the stride) + GroupNorm."""

    def __init__(self, config: BitConfig, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = WeightStandardizedConv2d(in_channels, out_channels, 1, stride, config.global_padding)
        self.norm = BitGroupNormActivation(config, out_channels, apply_activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class BitBottleneckLayer(nn.Module):
    """Non-preactivation bottleneck (ResNet v1.5: the stride sits on the 3x3 conv)."""

    def __init__(
        self,
        config: BitConfig,
        in_channels: int,
        out_channels: int,
        stride: int,
        dilation: int,
        first_dilation: int,
        drop_path_rate: float,
        is_first_layer: bool,
    ) -> None:
        super().__init__()
        mid = make_divisible(out_channels * 0.25)
        pad = config.global_padding
        self.downsample = BitDownsampleConv(config, in_channels, out_channels, stride) if is_first_layer else None
        self.conv1 = WeightStandardizedConv2d(in_channels, mid, 1, padding=pad)
        self.norm1 = BitGroupNormActivation(config, mid)
        self.conv2 = WeightStandardizedConv2d(mid, mid, 3, stride, padding=pad, dilation=first_dilation)
        self.norm2 = BitGroupNormActivation(config, mid)
        self.conv3 = WeightStandardizedConv2d(mid, out_channels, 1, padding=pad)
        self.norm3 = BitGroupNormActivation(config, out_channels, apply_activation=False)
        self.drop_path_rate = drop_path_rate
        self.act = activation(config.hidden_act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm1(self.conv1(x))
        x = self.norm2(self.conv2(x))
        x = self.norm3(self.conv3(x))
        return self.act(drop_path(x, self.drop_path_rate, self.training) + shortcut)


class BitStage(Checkpointing, nn.Module):
    """`depth` bottlenecks; the first changes channels and applies the stage's stride. Each block
    is checkpointed when gradient checkpointing is on."""

    def __init__(
        self, config: BitConfig, in_channels: int, out_channels: int, stride: int, dilation: int, rates: list[float]
    ) -> None:
        super().__init__()
        first_dilation = 1 if dilation in (1, 2) else 2
        self.layers = nn.Sequential()
        for i, rate in enumerate(rates):
            block = BitBottleneckLayer(
                config,
                in_channels if i == 0 else out_channels,
                out_channels,
                stride=stride if i == 0 else 1,
                dilation=dilation,
                first_dilation=first_dilation if i == 0 else dilation,
                drop_path_rate=rate,
                is_first_layer=i == 0,
            )
            self.layers.add_module(str(i), block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.layers:
            x = self.run(block, x)
        return x


class BitEncoder(nn.Module):
    """The stages: stride 1 for the first, 2 after, turned into dilation past `output_stride`."""

    def __init__(self, config: BitConfig) -> None:
        super().__init__()
        rates = np.linspace(0, config.drop_path_rate, sum(config.depths)).tolist()
        self.stages = nn.ModuleList()
        in_channels, current_stride, dilation, start = config.embedding_size, 4, 1, 0
        for index, (depth, out_channels) in enumerate(zip(config.depths, config.stage_channels())):
            stride = 1 if index == 0 else 2
            if current_stride >= config.output_stride:
                dilation, stride = dilation * stride, 1
            self.stages.append(
                BitStage(config, in_channels, out_channels, stride, dilation, rates[start : start + depth])
            )
            in_channels, current_stride, start = out_channels, current_stride * stride, start + depth


class BitModel(nn.Module):
    """The stem and the stages (the reference's parameter-free norm and pooler are left out)."""

    def __init__(self, config: BitConfig) -> None:
        super().__init__()
        self.embedder = BitEmbeddings(config)
        self.encoder = BitEncoder(config)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Returns the map after the stem and after each stage: (stem, stage1, stage2, ...)."""
        x = self.embedder(pixel_values)
        maps = [x]
        for stage in self.encoder.stages:
            x = stage(x)
            maps.append(x)
        return tuple(maps)


class BitBackbone(nn.Module):
    """`bit` plus the choice of which stage maps are the features (`config.out_features`)."""

    def __init__(self, config: BitConfig) -> None:
        super().__init__()
        self.config = config
        self.bit = BitModel(config)

    def forward(self, pixel_values: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Returns (feature maps named by out_features, every stage map from the stem on)."""
        maps = self.bit(pixel_values)
        last = max(self.config.out_indices)
        return tuple(maps[i] for i in self.config.out_indices), maps[: last + 1]
