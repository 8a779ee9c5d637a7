"""Triplet loss max(0, d(a, p) - d(a, n) + margin) inside a PK batch: batch-hard mining (Hermans et al., 2017) or
FaceNet's semi-hard mining (Schroff et al., CVPR 2015). Euclidean (not squared) distance, as in Hermans et al.
"""
from __future__ import annotations

import torch
from torch import Tensor

from facebench.losses.base import Loss, LossOutput
from facebench.losses.pairs import distances, masks, prepare
from facebench.losses.registry import register


def batch_hard(d: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One triplet per anchor: its farthest positive and its closest negative (anchors lacking either are skipped)."""
    pos, neg = masks(labels)
    p = d.masked_fill(~pos, -torch.inf).argmax(1)
    n = d.masked_fill(~neg, torch.inf).argmin(1)
    a = (pos.any(1) & neg.any(1)).nonzero().squeeze(1)
    return a, p[a], n[a]


def semi_hard(d: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One triplet per positive pair (a, p): the closest negative farther than p, d(a, n) > d(a, p).

    When no negative is farther than p, the farthest negative is used (as TensorFlow's triplet_semihard_loss does):
    the hardest one would pull toward the collapse FaceNet avoided with semi-hard negatives.
    """
    pos, neg = masks(labels)
    a, p = pos.nonzero(as_tuple=True)
    keep = neg[a].any(1)
    a, p = a[keep], p[keep]
    d_an, negatives = d[a], neg[a]
    farther = negatives & (d_an > d[a, p][:, None])
    closest_farther = d_an.masked_fill(~farther, torch.inf).argmin(1)
    farthest = d_an.masked_fill(~negatives, -torch.inf).argmax(1)
    return a, p, torch.where(farther.any(1), closest_farther, farthest)


MINERS = {"batch-hard": batch_hard, "semi-hard": semi_hard}


@register("triplet")
class Triplet(Loss):
    """Verification only: no classifier; margin 0.2 on L2-normalised embeddings by default (d in [0, 2])."""

    classifies = False
    needs_pairs = True

    def __init__(self, embedding_size: int, num_classes: int | None = None, *, margin: float = 0.2,
                 mining: str = "batch-hard", normalize: bool = True, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.require(mining in MINERS, f"option mining must be one of {', '.join(MINERS)}, got {mining!r}")
        self.margin, self.mining, self.normalize = float(margin), mining, bool(normalize)
        self.require(self.margin >= 0, f"option margin must be >= 0, got {margin!r}")

    def compute(self, x, labels) -> LossOutput:
        d = distances(prepare(x, self.normalize))
        with torch.no_grad():
            a, p, n = MINERS[self.mining](d, labels)
        hinge = (d[a, p] - d[a, n] + self.margin).clamp_min(0)
        loss = hinge.sum() / max(len(hinge), 1)  # no triplet in the batch: 0 that still has a grad_fn
        # len(hinge) is known on the host (the miners' nonzero already waited for the device): no extra sync
        active = (hinge > 0).float().mean() if len(hinge) else torch.zeros((), device=x.device)
        return LossOutput(loss, None, {"triplet": loss.detach(), "active": active.detach()})
