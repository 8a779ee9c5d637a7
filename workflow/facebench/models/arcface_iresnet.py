"""IResNet-18/34/50/100/200 as insightface's arcface_torch defines them, so its published ``backbone.pth`` files load.

The layout (module names are the state-dict keys of those files, hence the torchvision-style names):

- stem ``conv1`` (3x3, stride 1, 64 channels) -> ``bn1`` -> ``prelu``;
- ``layer1`` .. ``layer4`` of widths 64/128/256/512, each a sequence of ``IBasicBlock``s whose first block has the
  stride 2 and a ``downsample`` (``.0`` a strided 1x1 conv, ``.1`` its BN; present in every stage, layer1 included,
  since every stage halves the map); a block is ``bn1`` -> ``conv1`` (3x3) -> ``bn2`` -> ``prelu`` -> ``conv2``
  (3x3, the block's stride) -> ``bn3``, plus the shortcut, with no activation after the sum;
- head ``bn2`` (BN2d) -> flatten -> ``dropout`` -> ``fc`` (512 x H/16 x W/16 -> ``embedding_size``) -> ``features``
  (BN1d whose scale is fixed at 1 and not trained: only its shift learns, as in arcface_torch).

Units per stage: 2/2/2/2 (18), 3/4/6/3 (34), 3/4/14/3 (50), 3/13/30/3 (100), 6/26/60/6 (200). Overall stride 16, so
the published 112 x 112 input ends as a 7 x 7 map (``fc`` 512 x 49 -> 512); other multiples of 16 build a
different ``fc`` only. Initialisation as arcface_torch: convs N(0, 0.1), BN scale 1 and shift 0, the FC PyTorch's
default (with BN running statistics still at 0 / 1, an untrained net in eval mode grows its activations ~10x per
block and overflows to NaN by depth 100; train mode, or any training, normalises them). All BNs use eps 1e-5
(PyTorch's default, arcface_torch's too). The input arcface_torch feeds is RGB scaled as (x/255 - 0.5) / 0.5, the
project's default input spec. Its ``fp16`` switch (autocast on GPU) is left out: precision is the training and
embedding code's concern, not the architecture's.

This is a separate family from ``iresnet`` (models/iresnet.py), the project's own IR/IR-SE definition with other
module names and initialisation: at the same depth the two compute the same function of the same weights, but
their state dicts do not load into each other by name (tests/test_arch_iresnet.py maps them by position).
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size, check_input_size

UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 200: (6, 26, 60, 6)}
WIDTHS = (64, 128, 256, 512)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)


class IBasicBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus the (downsampled) input."""

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = _conv3x3(c_in, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (x if self.downsample is None else self.downsample(x))


def _stage(c_in: int, planes: int, n: int) -> nn.Sequential:
    """``n`` blocks, the first with stride 2 and a 1x1-conv + BN shortcut."""
    shortcut = nn.Sequential(nn.Conv2d(c_in, planes, 1, 2, bias=False), nn.BatchNorm2d(planes))
    return nn.Sequential(IBasicBlock(c_in, planes, 2, shortcut), *[IBasicBlock(planes, planes) for _ in range(n - 1)])


class ArcFaceIResNet(nn.Module):
    """N x 3 x H x W -> N x ``embedding_size`` (no normalisation: the scorer normalises, as arcface_torch's
    evaluation does); ``name`` is the registered name, used in errors."""

    def __init__(self, name: str, depth: int, embedding_size: int, input_size, dropout: float):
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        self.name = name
        self.depth = depth
        self.embedding_size = check_embedding_size(name, embedding_size)
        self.input_size = check_input_size(name, input_size, 16)
        h, w = self.input_size
        self.conv1 = nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.prelu = nn.PReLU(WIDTHS[0])
        c_in = WIDTHS[0]
        for i, (planes, n) in enumerate(zip(WIDTHS, UNITS[depth]), start=1):
            setattr(self, f"layer{i}", _stage(c_in, planes, n))
            c_in = planes
        self.bn2 = nn.BatchNorm2d(c_in)
        self.dropout = nn.Dropout(float(dropout))
        self.fc = nn.Linear(c_in * (h // 16) * (w // 16), embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.1)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.features.weight.requires_grad_(False)

    @property
    def stem_conv(self) -> nn.Conv2d:
        """The first convolution (the one that sees the image), for the first-layer kernels figure."""
        return self.conv1

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes)."""
        return self.bn2, self.dropout, self.fc, self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(self.name, x, self.input_size)
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn2(x).flatten(1))
        return self.features(self.fc(x))


@register("iresnet18")
class IResNet18(ArcFaceIResNet):
    """arcface_torch's ``r18``: 2/2/2/2 blocks, 24.0M parameters at 512-d, 112 x 112."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), dropout: float = 0.0):
        super().__init__("iresnet18", 18, embedding_size, input_size, dropout)


@register("iresnet34")
class IResNet34(ArcFaceIResNet):
    """arcface_torch's ``r34``: 3/4/6/3 blocks, 34.1M parameters at 512-d, 112 x 112."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), dropout: float = 0.0):
        super().__init__("iresnet34", 34, embedding_size, input_size, dropout)


@register("iresnet50")
class IResNet50(ArcFaceIResNet):
    """arcface_torch's ``r50``: 3/4/14/3 blocks, 43.6M parameters at 512-d, 112 x 112."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), dropout: float = 0.0):
        super().__init__("iresnet50", 50, embedding_size, input_size, dropout)


@register("iresnet100")
class IResNet100(ArcFaceIResNet):
    """arcface_torch's ``r100``: 3/13/30/3 blocks, 65.2M parameters at 512-d, 112 x 112."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), dropout: float = 0.0):
        super().__init__("iresnet100", 100, embedding_size, input_size, dropout)


@register("iresnet200")
class IResNet200(ArcFaceIResNet):
    """arcface_torch's ``r200``: 6/26/60/6 blocks, 118.8M parameters at 512-d, 112 x 112."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112), dropout: float = 0.0):
        super().__init__("iresnet200", 200, embedding_size, input_size, dropout)
