"""MobileFaceNet (Chen et al., CCBR 2018): depthwise-separable bottlenecks and a global depthwise (GDC) head.

The network's overall stride is 16 (four stride-2 layers), and the GDC's kernel is the whole last feature map, so it
follows the input: 7 x 7 at 112 x 112 (the paper's and the published checkpoint's), 7 x 6 at 112 x 96. Any input
whose sides are multiples of 16 builds; the tensor names do not depend on it.
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size, check_input_size


class ConvBlock(nn.Module):
    """conv -> BN -> optional PReLU."""

    def __init__(self, c_in, c_out, kernel=1, stride=1, padding=0, groups=1, prelu=True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = nn.PReLU(c_out) if prelu else None

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.prelu is not None else x


class Bottleneck(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection, with a residual when shapes match."""

    def __init__(self, c_in, c_out, expand, stride=1, residual=False):
        super().__init__()
        self.conv = ConvBlock(c_in, expand)
        self.conv_dw = ConvBlock(expand, expand, 3, stride, 1, groups=expand)
        self.project = ConvBlock(expand, c_out, prelu=False)
        self.residual = residual

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Stage(nn.Module):
    def __init__(self, channels, expand, depth):
        super().__init__()
        self.model = nn.Sequential(*[Bottleneck(channels, channels, expand, residual=True) for _ in range(depth)])

    def forward(self, x):
        return self.model(x)


@register("mobilefacenet")
class MobileFaceNet(nn.Module):
    """H x W RGB in (sides multiples of 16; 112 x 112 by default), `embedding_size`-d feature out (no normalisation:
    the scorer normalises). The GDC kernel is H/16 x W/16."""

    def __init__(self, embedding_size: int = 128, input_size: tuple[int, int] = (112, 112)):
        super().__init__()
        self.embedding_size = check_embedding_size("mobilefacenet", embedding_size)
        self.input_size = check_input_size("mobilefacenet", input_size, 16)
        h, w = self.input_size
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = Bottleneck(64, 64, 128, stride=2)
        self.conv_3 = Stage(64, 128, 4)
        self.conv_34 = Bottleneck(64, 128, 256, stride=2)
        self.conv_4 = Stage(128, 256, 6)
        self.conv_45 = Bottleneck(128, 128, 512, stride=2)
        self.conv_5 = Stage(128, 256, 2)
        self.sep = nn.Conv2d(128, 512, 1, bias=False)
        self.sep_bn = nn.BatchNorm2d(512)
        self.prelu = nn.PReLU(512)
        self.GDC_dw = nn.Conv2d(512, 512, (h // 16, w // 16), groups=512, bias=False)
        self.GDC_bn = nn.BatchNorm2d(512)
        self.features = nn.Conv2d(512, embedding_size, 1, bias=False)
        self.last_bn = nn.BatchNorm2d(embedding_size)

    @property
    def stem_conv(self) -> nn.Conv2d:
        """The first convolution (the one that sees the image), for the first-layer kernels figure."""
        return self.conv1.conv

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes): the
        global depthwise conv and its BN, then the linear 1x1 conv and its BN."""
        return self.GDC_dw, self.GDC_bn, self.features, self.last_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("mobilefacenet", x, self.input_size)
        x = self.conv2_dw(self.conv1(x))
        x = self.conv_5(self.conv_45(self.conv_4(self.conv_34(self.conv_3(self.conv_23(x))))))
        x = self.prelu(self.sep_bn(self.sep(x)))
        x = self.GDC_bn(self.GDC_dw(x))
        x = self.last_bn(self.features(x))
        return x.flatten(1)
