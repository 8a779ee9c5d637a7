"""Plain softmax: a linear classifier with bias and cross-entropy, the baseline the margin heads improve on."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facebench.losses.base import Loss, LossOutput
from facebench.losses.registry import register


@register("softmax")
class Softmax(Loss):
    """logits = W x + b, CE (or focal)."""

    def __init__(self, embedding_size: int, num_classes: int, *, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.bias = nn.Parameter(torch.zeros(self.num_classes))

    def compute(self, x, labels) -> LossOutput:
        return self.finish(F.linear(x, self.weight, self.bias), labels)
