"""ArcFace (Deng et al., CVPR 2019): target logit s cos(theta_y + m), others s cos(theta_j)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from facebench.losses.base import Loss, LossOutput, one_hot
from facebench.losses.registry import register


def arc_margin(cos: Tensor, m: float, easy_margin: bool = False) -> Tensor:
    """cos(theta + m) from cos(theta), without acos: cos cos(m) - sin sin(m) (cos must be clamped off +-1).

    Past theta = pi - m, cos(theta + m) would turn back up (no longer a penalty); there the usual fallback
    cos(theta) - m sin(m) keeps the target logit decreasing in theta and below cos(theta). easy_margin instead applies
    the margin only where cos > 0 (theta < pi/2), leaving cos unchanged beyond, which is not monotonic.
    """
    sin = (1 - cos * cos).clamp_min(0).sqrt()
    shifted = cos * math.cos(m) - sin * math.sin(m)
    if easy_margin:
        return torch.where(cos > 0, shifted, cos)
    return torch.where(cos > math.cos(math.pi - m), shifted, cos - m * math.sin(m))


@register("arcface")
class ArcFace(Loss):
    """An additive angular margin; m = 0 is norm-softmax."""

    def __init__(self, embedding_size: int, num_classes: int, *, s: float = 30.0, m: float = 0.5,
                 easy_margin: bool = False, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.s, self.m, self.easy_margin = float(s), float(m), bool(easy_margin)
        self.require(self.s > 0, f"option s must be > 0, got {s!r}")
        self.require(0 <= self.m < math.pi, f"option m must be in [0, pi), got {m!r}")

    def compute(self, x, labels) -> LossOutput:
        cos = self.cosine(x)
        target = arc_margin(cos.gather(1, labels[:, None]), self.m, self.easy_margin)
        logits = self.s * torch.where(one_hot(labels, cos), target, cos)
        return self.finish(logits, labels, scores=self.s * cos)
