"""Classic ResNet (He et al., CVPR 2016) adapted to 112-px faces: ResNet-18 (BasicBlock) and ResNet-50 (Bottleneck).

The ImageNet stem (7x7 stride-2 conv + max-pool, /4) would leave a 112-px face at 28 x 28 before the first block
and 4 x 4 at the end; here the stem is a stride-1 3x3 conv + BN + ReLU without max-pool, and every one of the four
stages opens with a stride-2 block, so the overall stride is 16 and a 112 x 112 face ends as a 7 x 7 map (as in
ArcFace's IResNet, which makes the two families comparable). The Bottleneck strides on its 3x3 conv ("v1.5").
The head is BN2d -> flatten -> FC -> BN1d, the FC's input size computed from ``input_size``.
Initialisation: convs He-normal (fan_out, ReLU gain), BN scale 1 and shift 0, the FC PyTorch's default.
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size, check_input_size, init_weights

WIDTHS = (64, 128, 256, 512)


def projection(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity when the shape is kept, else a strided 1x1 conv + BN (ResNet's option B)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus shortcut, then ReLU."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width))
        self.shortcut = projection(c_in, width, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 -> BN -> ReLU -> 3x3(stride) -> BN -> ReLU -> 1x1 (x4 channels) -> BN, plus shortcut, then ReLU."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.Conv2d(width, c_out, 1, bias=False),
                                  nn.BatchNorm2d(c_out))
        self.shortcut = projection(c_in, c_out, stride)

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """N x 3 x H x W -> N x ``embedding_size``; H and W multiples of 16."""

    def __init__(self, name: str, block, units, embedding_size: int, input_size):
        super().__init__()
        self.embedding_size = check_embedding_size(name, embedding_size)
        self.input_size = check_input_size(name, input_size, 16)
        self.name = name
        self.stem = nn.Sequential(nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False), nn.BatchNorm2d(WIDTHS[0]),
                                  nn.ReLU(inplace=True))
        stages, c_in = [], WIDTHS[0]
        for width, n in zip(WIDTHS, units):
            stages.append(nn.Sequential(*[block(c_in if i == 0 else width * block.expansion, width, 2 if i == 0 else 1)
                                          for i in range(n)]))
            c_in = width * block.expansion
        self.body = nn.Sequential(*stages)
        h, w = self.input_size
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in * (h // 16) * (w // 16), embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        init_weights(self)

    @property
    def stem_conv(self) -> nn.Conv2d:
        return self.stem[0]

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes)."""
        return self.bn, self.fc, self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(self.name, x, self.input_size)
        x = self.bn(self.body(self.stem(x)))
        return self.features(self.fc(x.flatten(1)))


@register("resnet18")
class ResNet18(ResNet):
    """2/2/2/2 BasicBlocks, 512 channels at the end."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112)):
        super().__init__("resnet18", BasicBlock, (2, 2, 2, 2), embedding_size, input_size)


@register("resnet50")
class ResNet50(ResNet):
    """3/4/6/3 Bottlenecks, 2048 channels at the end (so its FC alone is 2048 x 7 x 7 x 512 = 51M weights)."""

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112)):
        super().__init__("resnet50", Bottleneck, (3, 4, 6, 3), embedding_size, input_size)
