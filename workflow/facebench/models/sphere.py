"""SphereFace's 20-layer residual CNN (Liu et al., CVPR 2017, Table 2), optionally with batch normalisation.

"20 layers" in the paper counts convolutions: 4 stride-2 entry convs plus 2 x (1 + 2 + 4 + 1) convs in residual
units = 20, followed by one fully connected layer (so 21 weight layers in all).
Initialisation follows the released Caffe model: entry convs and the FC are Xavier-uniform with a zero bias, the
convs inside residual units are N(0, 0.01) without bias (frozen at zero there); PReLU slopes start at 0.25.
With ``batch_norm=True`` (the seed report's "+ Batch Norm" variant) every conv and the FC is followed by a
BatchNorm and loses its bias (the BN shift replaces it); the initialisation is otherwise the same.
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size, check_input_size

UNITS = (1, 2, 4, 1)  # residual units per stage, Table 2 "20-layer"
WIDTHS = (64, 128, 256, 512)


def conv_prelu(c_in: int, c_out: int, stride: int, batch_norm: bool, entry: bool) -> nn.Sequential:
    """3x3 conv (-> BN) -> PReLU; ``entry`` marks the stride-2 conv that opens a stage (it keeps a bias without BN)."""
    conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=entry and not batch_norm)
    if entry:
        nn.init.xavier_uniform_(conv.weight)
    else:
        nn.init.normal_(conv.weight, 0.0, 0.01)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    layers = [conv, nn.BatchNorm2d(c_out)] if batch_norm else [conv]
    return nn.Sequential(*layers, nn.PReLU(c_out, init=0.25))


class Unit(nn.Module):
    """x + PReLU(conv(PReLU(conv(x)))): the identity shortcut needs no projection, widths match inside a stage."""

    def __init__(self, channels: int, batch_norm: bool):
        super().__init__()
        self.body = nn.Sequential(conv_prelu(channels, channels, 1, batch_norm, entry=False),
                                  conv_prelu(channels, channels, 1, batch_norm, entry=False))

    def forward(self, x):
        return x + self.body(x)


@register("sphere20")
class Sphere20(nn.Module):
    """RGB N x 3 x H x W -> N x ``embedding_size``; H and W multiples of 16 (four stride-2 stages).

    The FC's input size is 512 x H/16 x W/16 (7 x 6 at the default 112 x 96), computed from ``input_size``.
    """

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 96),
                 batch_norm: bool = False, width: float = 1.0):
        super().__init__()
        self.embedding_size = check_embedding_size("sphere20", embedding_size)
        self.input_size = check_input_size("sphere20", input_size, 16)
        self.batch_norm = bool(batch_norm)
        if not (isinstance(width, (int, float)) and 0 < width <= 4):
            raise ValueError(f"sphere20: width must be a number in (0, 4], got {width!r}")
        # `width` scales every stage's channels (1.0 is the paper's 64/128/256/512): CPU-sized runs use 0.5
        widths = [max(4, round(c * width)) for c in WIDTHS]
        stages, c_in = [], 3
        for width, units in zip(widths, UNITS):
            stages.append(nn.Sequential(conv_prelu(c_in, width, 2, self.batch_norm, entry=True),
                                        *[Unit(width, self.batch_norm) for _ in range(units)]))
            c_in = width
        self.stages = nn.Sequential(*stages)
        h, w = self.input_size
        self.fc = nn.Linear(widths[-1] * (h // 16) * (w // 16), embedding_size, bias=not self.batch_norm)
        nn.init.xavier_uniform_(self.fc.weight)
        if self.fc.bias is not None:
            nn.init.zeros_(self.fc.bias)
        self.fc_bn = nn.BatchNorm1d(embedding_size) if self.batch_norm else None

    @property
    def stem_conv(self) -> nn.Conv2d:
        return self.stages[0][0][0]

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes):
        the FC, and its BN in the batch-norm variant."""
        return (self.fc,) if self.fc_bn is None else (self.fc, self.fc_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("sphere20", x, self.input_size)
        x = self.fc(self.stages(x).flatten(1))
        return self.fc_bn(x) if self.fc_bn is not None else x
