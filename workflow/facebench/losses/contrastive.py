"""Contrastive loss (Hadsell, Chopra & LeCun, CVPR 2006) over every pair in a PK batch: same-identity pairs pay
d^2, different-identity pairs pay max(0, margin - d)^2.
"""
from __future__ import annotations

from torch import Tensor

from facebench.losses.base import Loss, LossOutput
from facebench.losses.pairs import DIST_EPS, masked_mean, masks, prepare, squared_distances
from facebench.losses.registry import register


def pair_terms(x: Tensor, margin: float, normalize: bool, positive_power: int = 2) -> tuple[Tensor, Tensor]:
    """N x N (pull, push): what each pair pays as a positive, d^positive_power, and as a negative,
    max(0, margin - d)^2; the loss picks the pairs."""
    d2 = squared_distances(prepare(x, normalize))
    d = d2.clamp_min(DIST_EPS).sqrt()
    push = (margin - d).clamp_min(0).pow(2)
    return (d2 if positive_power == 2 else d), push


def contrastive_terms(x: Tensor, labels: Tensor, margin: float, normalize: bool) -> tuple[Tensor, Tensor]:
    """(pull, push): the mean over positive pairs of d^2 and over negative pairs of max(0, margin - d)^2.

    Each kind is averaged on its own, so the many negatives of a PK batch don't drown the few positives; a kind
    absent from the batch contributes 0.
    """
    pull, push = pair_terms(x, margin, normalize)
    pos, neg = masks(labels)
    return masked_mean(pull, pos), masked_mean(push, neg)


@register("contrastive")
class Contrastive(Loss):
    """Verification only: no classifier. Euclidean distance on L2-normalised embeddings by default (d in [0, 2])."""

    classifies = False
    needs_pairs = True

    def __init__(self, embedding_size: int, num_classes: int | None = None, *, margin: float = 1.0,
                 normalize: bool = True, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.margin, self.normalize = float(margin), bool(normalize)
        self.require(self.margin > 0, f"option margin must be > 0, got {margin!r}")

    def compute(self, x, labels) -> LossOutput:
        pull, push = contrastive_terms(x, labels, self.margin, self.normalize)
        loss = pull + push
        return LossOutput(loss, None, {"pull": pull.detach(), "push": push.detach()})
