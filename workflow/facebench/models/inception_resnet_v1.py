"""Inception-ResNet-v1 (Szegedy et al., AAAI 2017) as facenet-pytorch defines it (``InceptionResnetV1`` with
``classify=False``), so its VGGFace2 and CASIA-WebFace weights load: the module names below are those files' keys.

Layout, 160 x 160 in (the map sizes in brackets):

- stem: ``conv2d_1a`` 3x3/2 (79) -> ``conv2d_2a`` 3x3 (77) -> ``conv2d_2b`` 3x3 pad 1 -> ``maxpool_3a`` 3x3/2 (38)
  -> ``conv2d_3b`` 1x1 (80 ch) -> ``conv2d_4a`` 3x3 (36, 192 ch) -> ``conv2d_4b`` 3x3/2 (17, 256 ch);
- ``repeat_1``: 5 x Block35 (residual scale 0.17) on 256 channels; ``mixed_6a`` (reduction-A, 8, 896 ch);
  ``repeat_2``: 10 x Block17 (scale 0.10); ``mixed_7a`` (reduction-B, 3, 1792 ch); ``repeat_3``: 5 x Block8
  (scale 0.20); ``block8``: one more Block8 at scale 1 with no ReLU after the sum;
- head: global average pooling (``avgpool_1a``) -> ``dropout`` (p 0.6) -> ``last_linear`` (1792 -> 512, no bias) ->
  ``last_bn`` (BN1d), then L2 normalisation.

Every "BasicConv2d" is conv (no bias) -> BN (eps 0.001, the TensorFlow value the weights were converted with) ->
ReLU; each residual block's closing 1x1 ``conv2d`` has a bias. The published files also hold ``logits`` (the
training classifier, 8631 or 10575 classes): not part of this backbone, an import drops it.
No initialisation of its own (PyTorch's defaults, as facenet-pytorch). facenet-pytorch feeds RGB standardised as
(x - 127.5) / 128, i.e. input spec mean 0.5 and std 128/255 per channel.

Normalisation: with ``normalize=True`` (the default) ``forward`` returns the L2-normalised embedding, as
facenet-pytorch's model does; that is the output its published weights are evaluated on. The project's other
backbones return the raw feature and leave normalising to the scorer; the cosine and Euclidean scorers normalise
again (idempotent), so their scores are the same either way. It differs where raw features are used: flip-sum adds
unit vectors rather than raw ones, and a loss that does not normalise (softmax, center) trains on unit vectors; set
``normalize: false`` to get the project's convention (``last_bn``'s output) for training from scratch.
The adaptive pooling lets any side of at least 75 px build (a 1 x 1 final map); 160 is the trained size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.models.registry import register
from facebench.models.shapes import check_batch, check_embedding_size

MIN_SIDE = 75  # the smallest side whose last reduction still leaves a 1 x 1 map


class BasicConv2d(nn.Module):
    """conv (no bias) -> BN (eps 0.001) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001, momentum=0.1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _seq(*convs: tuple) -> nn.Sequential:
    """A branch of BasicConv2ds, each given as its (c_in, c_out, kernel, stride, padding)."""
    return nn.Sequential(*[BasicConv2d(*c) for c in convs])


class _Residual(nn.Module):
    """Concatenated branches -> 1x1 conv (with bias) back to the input width, scaled, added to the input, ReLU."""

    def __init__(self, scale: float, relu: bool):
        super().__init__()
        self.scale = scale
        self.relu = nn.ReLU() if relu else None

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.scale * self.conv2d(torch.cat(self.branches(x), 1))
        return self.relu(y) if self.relu is not None else y


class Block35(_Residual):
    """Inception-ResNet-A on 256 channels: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (32 channels each)."""

    def __init__(self, scale: float = 1.0):
        super().__init__(scale, relu=True)
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = _seq((256, 32, 1), (32, 32, 3, 1, 1))
        self.branch2 = _seq((256, 32, 1), (32, 32, 3, 1, 1), (32, 32, 3, 1, 1))
        self.conv2d = nn.Conv2d(96, 256, 1)

    def branches(self, x):
        return [self.branch0(x), self.branch1(x), self.branch2(x)]


class Block17(_Residual):
    """Inception-ResNet-B on 896 channels: 1x1 | 1x1 -> 1x7 -> 7x1 (128 channels each)."""

    def __init__(self, scale: float = 1.0):
        super().__init__(scale, relu=True)
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = _seq((896, 128, 1), (128, 128, (1, 7), 1, (0, 3)), (128, 128, (7, 1), 1, (3, 0)))
        self.conv2d = nn.Conv2d(256, 896, 1)

    def branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Block8(_Residual):
    """Inception-ResNet-C on 1792 channels: 1x1 | 1x1 -> 1x3 -> 3x1 (192 channels each); ``relu=False`` for the last."""

    def __init__(self, scale: float = 1.0, relu: bool = True):
        super().__init__(scale, relu)
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = _seq((1792, 192, 1), (192, 192, (1, 3), 1, (0, 1)), (192, 192, (3, 1), 1, (1, 0)))
        self.conv2d = nn.Conv2d(384, 1792, 1)

    def branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Mixed6a(nn.Module):
    """Reduction-A, 256 -> 384 + 256 + 256 = 896 channels: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool 3x3/2."""

    def __init__(self):
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, 2)
        self.branch1 = _seq((256, 192, 1), (192, 192, 3, 1, 1), (192, 256, 3, 2))
        self.branch2 = nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class Mixed7a(nn.Module):
    """Reduction-B, 896 -> 384 + 256 + 256 + 896 = 1792 channels: three conv branches | max-pool 3x3/2."""

    def __init__(self):
        super().__init__()
        self.branch0 = _seq((896, 256, 1), (256, 384, 3, 2))
        self.branch1 = _seq((896, 256, 1), (256, 256, 3, 2))
        self.branch2 = _seq((896, 256, 1), (256, 256, 3, 1, 1), (256, 256, 3, 2))
        self.branch3 = nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class L2Normalize(nn.Module):
    """Rows scaled to unit length (F.normalize, eps 1e-12): the embedding facenet-pytorch returns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=1)


def _check_input_size(input_size) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in input_size)
        ok = (h, w) == tuple(input_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"inception_resnet_v1: input_size must be a pair (H, W) of ints, got {input_size!r}")
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"inception_resnet_v1: input_size {(h, w)} does not fit: each side must be at least "
                         f"{MIN_SIDE} (the last reduction's map would be empty); the published weights are for 160")
    return h, w


@register("inception_resnet_v1")
class InceptionResnetV1(nn.Module):
    """facenet-pytorch's InceptionResnetV1 without its classifier; N x 3 x H x W -> N x ``embedding_size``,
    L2-normalised when ``normalize`` (the default, as facenet-pytorch; see the module's doc for why and when not).

    ``dropout`` is the probability before ``last_linear`` (facenet-pytorch's ``dropout_prob``, default 0.6).
    """

    def __init__(self, *, embedding_size: int = 512, input_size: tuple[int, int] = (160, 160), dropout: float = 0.6,
                 normalize: bool = True):
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"inception_resnet_v1: dropout must be a number in [0, 1), got {dropout!r}")
        if not isinstance(normalize, bool):
            raise ValueError(f"inception_resnet_v1: normalize must be true or false, got {normalize!r}")
        self.embedding_size = check_embedding_size("inception_resnet_v1", embedding_size)
        self.input_size = _check_input_size(input_size)
        self.normalize = normalize
        self.conv2d_1a = BasicConv2d(3, 32, 3, 2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, 1, 1)
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*[Block35(0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*[Block17(0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*[Block8(0.20) for _ in range(5)])
        self.block8 = Block8(relu=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(float(dropout))
        self.last_linear = nn.Linear(1792, embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=0.001, momentum=0.1)
        self.l2 = L2Normalize() if normalize else nn.Identity()  # no tensors: the state dict is the same either way

    @property
    def stem_conv(self) -> nn.Conv2d:
        """The first convolution (the one that sees the image), for the first-layer kernels figure."""
        return self.conv2d_1a.conv

    @property
    def output_layer(self) -> tuple[nn.Module, ...]:
        """The layers that turn the last feature map into the embedding (what `trainable: output` fine-tunes)."""
        return self.avgpool_1a, self.dropout, self.last_linear, self.last_bn, self.l2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch("inception_resnet_v1", x, self.input_size)
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(x))))
        x = self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))
        x = self.block8(self.repeat_3(x))
        x = self.dropout(self.avgpool_1a(x).flatten(1))
        return self.l2(self.last_bn(self.last_linear(x)))
