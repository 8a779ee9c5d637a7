"""The three MTCNN networks (Zhang et al. 2016), laid out so the published facenet-pytorch state dicts load as-is.

The dense layers were trained (in Caffe, then converted) on feature maps flattened in (width, height, channel)
order, hence the permute before each flatten.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from facebench.weights import CheckpointError, load_weights_only


class MaxPool(nn.MaxPool2d):
    """Max pooling (ceil mode) in channels-last layout: the same values, but PyTorch's CPU kernel is 3-9x faster in
    that layout for these shapes (measured), and pooling was half of MTCNN's time. The nets run channels-last
    throughout (load_net), so no layout copy is made before or after."""

    def __init__(self, kernel_size: int, stride: int):
        super().__init__(kernel_size, stride, ceil_mode=True)

    def forward(self, x):
        return super().forward(x.contiguous(memory_format=torch.channels_last))


class PNet(nn.Module):
    """Proposal net: fully convolutional, a 12x12 window per output cell (stride 2)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = MaxPool(2, 2)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)  # box regression, face probability


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = MaxPool(3, 2)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = MaxPool(3, 2)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).flatten(1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48x48 crops: box regression, five landmarks (x1..x5, y1..y5 relative to the box), probability."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = MaxPool(3, 2)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = MaxPool(3, 2)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = MaxPool(2, 2)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).flatten(1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


NETS = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_net(name: str, path: str | Path) -> nn.Module:
    """Build net ``name`` and load its state dict from ``path`` (weights only; every key and shape must match)."""
    net = NETS[name]()
    state = load_weights_only(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict for MTCNN {name}, found {type(state).__name__}")
    own = net.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise CheckpointError(f"{path}: MTCNN {name} keys differ: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(f"{path}: MTCNN {name} tensor {key} has shape {tuple(state[key].shape)}, "
                                  f"expected {tuple(value.shape)}")
    net.load_state_dict(state)
    # channels-last weights, as the activations are (an image batch permuted from HWC already is): no layout copy
    # around each pooling, 22% more images/s on 2 CPU cores (2026-12-06); landmarks move by at most 4e-5 px
    return net.eval().to(memory_format=torch.channels_last)
