"""ArcFace's improved residual networks (Deng et al., CVPR 2019): IR and IR-SE units, and the small IR-SE-8.

An IR unit is BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus a shortcut: the pre-activation BN and
the stride on the second conv (not the first) are the paper's changes to the classic block. IR-SE adds a
squeeze-excitation gate (reduction 16) on the residual branch before the sum. The shortcut is the identity when
shape is kept, else a strided 1x1 conv + BN. Every stage opens with a stride-2 unit after a stride-1 stem, so the
network's overall stride is 16 (7 x 7 final map at 112 x 112).
Initialisation: convs He-normal (fan_out, ReLU gain; PReLU slopes start at 0.25), BN scale 1 and shift 0, linear
layers PyTorch's default.
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size, check_input_size, init_weights

UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}  # units per stage
WIDTHS = (64, 128, 256, 512)


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)  # BN follows every conv, a bias would be redundant


class SqueezeExcite(nn.Module):
    """Channel gate: global average -> 1x1 reduce -> ReLU -> 1x1 expand -> sigmoid, multiplied back in."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)  # irse8's 32-channel stage would otherwise round to zero
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=False)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x):
        gate = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class IRUnit(nn.Module):
    """One IR (``se=False``) or IR-SE (``se=True``) unit."""

    def __init__(self, c_in: int, c_out: int, stride: int, se: bool):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(c_in), conv3x3(c_in, c_out), nn.BatchNorm2d(c_out),
                                  nn.PReLU(c_out), conv3x3(c_out, c_out, stride), nn.BatchNorm2d(c_out))
        self.se = SqueezeExcite(c_out) if se else None
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out
                         else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        y = self.body(x)
        if self.se is not None:
            y = self.se(y)
        return y + self.shortcut(x)


def stem(c_out: int) -> nn.Sequential:
    """Stride-1 3x3 conv -> BN -> PReLU: 112-px faces are too small to halve before the first residual stage."""
    return nn.Sequential(conv3x3(3, c_out), nn.BatchNorm2d(c_out), nn.PReLU(c_out))


def stages(c_in: int, widths, units, se: bool) -> nn.Sequential:
    """Each stage opens with a stride-2 unit, the rest keep the size."""
    out = []
    for width, n in zip(widths, units):
        out.append(nn.Sequential(*[IRUnit(c_in if i == 0 else width, width, 2 if i == 0 else 1, se)
                                   for i in range(n)]))
        c_in = width
    return nn.Sequential(*out)


@register("iresnet")
class IResNet(nn.Module):
    """IResNet-{18,34,50,100} (``depth``), IR-SE with ``se=True``; N x 3 x H x W -> N x ``embedding_size``.

    Output layer BN2d -> Dropout(``dropout``, ArcFace's default 0) -> flatten -> FC -> BN1d; the FC's input size
    is 512 x H/16 x W/16, computed from ``input_size`` (whose sides must be multiples of 16).
    """

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), depth: int = 50,
                 se: bool = False, dropout: float = 0.0):
        super().__init__()
        if depth not in UNITS:
            raise ValueError(f"iresnet: depth must be one of {sorted(UNITS)}, got {depth!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"iresnet: dropout must be in [0, 1), got {dropout!r}")
        self.embedding_size = check_embedding_size("iresnet", embedding_size)
        self.input_size = check_input_size("iresnet", input_size, 16)
        self.depth, self.se = depth, bool(se)
        self.stem = stem(WIDTHS[0])
        self.body = stages(WIDTHS[0], WIDTHS, UNITS[depth], self.se)
        h, w = self.input_size
        self.bn = nn.BatchNorm2d(WIDTHS[-1])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(WIDTHS[-1] * (h // 16) * (w // 16), embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        init_weights(self)

    @property
    def stem_conv(self) -> nn.Conv2d:
        return self.stem[0]

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes)."""
        return self.bn, self.dropout, self.fc, self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("iresnet", x, self.input_size)
        x = self.dropout(self.bn(self.body(self.stem(x))))
        return self.features(self.fc(x.flatten(1)))


@register("irse8")
class IRSE8(nn.Module):
    """A small IR-SE for resolution studies: one architecture, and one parameter count, for every input size.

    Stem conv3x3(32) -> BN -> PReLU (PReLU, as in the IR units, rather than ReLU), then 4 stages x 2 IR-SE units of
    widths 32/64/128/256, each stage opening with a stride-2 unit (overall stride 16), then BN2d -> adaptive average
    pooling to ``pool_size`` x ``pool_size`` -> flatten -> linear -> BN1d. The adaptive pooling is what lets 32 x 32
    (a 2 x 2 final map), 112 x 112 (7 x 7) and 144 x 144 (9 x 9) share the same weights; the default 2 x 2 keeps a
    coarse face layout (upper/lower, left/right halves) that global pooling (``pool_size=1``) would discard.
    ``input_size`` sides must be multiples of 16 and at least 16 x ``pool_size``; it records the resolution the model
    is built for, while ``forward`` accepts any size that passes the same check.
    """

    WIDTHS = (32, 64, 128, 256)

    def __init__(self, *, embedding_size: int = 128, input_size: tuple[int, int] = (112, 112), pool_size: int = 2):
        super().__init__()
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"irse8: pool_size must be a positive int, got {pool_size!r}")
        self.embedding_size = check_embedding_size("irse8", embedding_size)
        self.pool_size = pool_size
        self.input_size = check_input_size("irse8", input_size, 16, minimum=16 * pool_size)
        self.stem = stem(self.WIDTHS[0])
        self.body = stages(self.WIDTHS[0], self.WIDTHS, (2, 2, 2, 2), se=True)
        self.bn = nn.BatchNorm2d(self.WIDTHS[-1])
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.fc = nn.Linear(self.WIDTHS[-1] * pool_size * pool_size, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        init_weights(self)

    @property
    def stem_conv(self) -> nn.Conv2d:
        return self.stem[0]

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes)."""
        return self.bn, self.pool, self.fc, self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"irse8: expected a batch N x 3 x H x W, got {tuple(x.shape)}")
        check_input_size("irse8", tuple(x.shape[-2:]), 16, minimum=16 * self.pool_size)  # any buildable size
        x = self.pool(self.bn(self.body(self.stem(x))))
        return self.features(self.fc(x.flatten(1)))
