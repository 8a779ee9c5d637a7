"""Center loss (Wen et al., ECCV 2016): softmax CE + lambda * 1/(2N) sum_i ||x_i - c_{y_i}||^2, with class centers
c_j moved by the paper's rule c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j).
"""
from __future__ import annotations

import torch
from torch import nn

from facebench.losses.base import LossOutput
from facebench.losses.registry import register
from facebench.losses.softmax import Softmax


@register("center")
class CenterLoss(Softmax):
    """How the alpha rule is met with an ordinary optimizer.

    The center term is split in two. The features see lambda/(2N) sum ||x_i - c_{y_i}||^2 with the centers held
    fixed, which is the original's gradient on x. The centers see a term of value zero whose gradient is exactly
    sum_{i: y_i = j} (c_j - x_i) / (1 + n_j), independent of lambda (as in the original, where the center update
    ignores the loss weight). `param_groups` puts the centers in their own group with lr = center_lr, momentum 0 and
    weight decay 0, so one plain SGD step is the alpha rule with alpha = center_lr (a schedule that scales every
    group's lr scales alpha too, as the Caffe solver did). Other optimizers (Adam) rescale it and no longer match.
    """

    def __init__(self, embedding_size: int, num_classes: int, *, lambda_: float = 0.01, center_lr: float = 0.5,
                 focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.lambda_, self.center_lr = float(lambda_), float(center_lr)
        self.require(self.lambda_ >= 0, f"option lambda must be >= 0, got {lambda_!r}")
        self.require(self.center_lr >= 0, f"option center_lr must be >= 0, got {center_lr!r}")
        # centers start at the origin; the alpha rule brings each to its class mean within a few visits
        self.centers = nn.Parameter(torch.zeros(self.num_classes, self.embedding_size))

    def compute(self, x, labels) -> LossOutput:
        out = super().compute(x, labels)
        c = self.centers[labels]
        pull = (x - c.detach()).pow(2).sum(1).mean() / 2
        n = torch.bincount(labels, minlength=self.num_classes)[labels]  # n_{y_i}: batch samples of i's class
        move = ((c - x.detach()).pow(2).sum(1) / (2 * (1 + n))).sum()
        out.loss = out.loss + self.lambda_ * pull + (move - move.detach())
        out.parts["center"] = pull.detach()
        return out

    def param_groups(self, lr: float) -> list[dict]:
        rest = [p for name, p in self.named_parameters() if name != "centers"]
        return [{"params": rest, "lr": lr},
                {"params": [self.centers], "lr": self.center_lr, "momentum": 0.0, "weight_decay": 0.0}]
