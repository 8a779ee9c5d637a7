"""Pairwise distances and same/different masks inside a batch, shared by the metric losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from facebench.losses.base import NORM_EPS

DIST_EPS = 1e-12  # floor on d^2 before sqrt: sqrt's gradient at 0 is infinite


def prepare(x: Tensor, normalize: bool) -> Tensor:
    return F.normalize(x, dim=1, eps=NORM_EPS) if normalize else x


def squared_distances(x: Tensor) -> Tensor:
    """N x N ||x_i - x_j||^2 through one matmul (|a|^2 + |b|^2 - 2ab), clamped at 0 against rounding."""
    sq = x.pow(2).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * x @ x.t()).clamp_min(0)


def distances(x: Tensor) -> Tensor:
    return squared_distances(x).clamp_min(DIST_EPS).sqrt()


def masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(positive, negative) N x N boolean masks: same identity without the diagonal, different identity."""
    same = labels[:, None] == labels[None, :]
    return same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device), ~same


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over the mask; an empty mask gives 0 that still has a grad_fn (no 0/0)."""
    return (values * mask).sum() / mask.sum().clamp_min(1)


def balanced_pairs(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(positive, negative) N x N boolean masks pairing every image with one same-identity image and one
    different-identity image of the batch: N positive and N negative pairs, chosen deterministically from the batch
    order (which the seeded sampler makes random), so no random state is drawn.

    The images are grouped by identity (groups in order of first appearance, batch order inside a group). The
    positive partner is the next image of the same group, cyclically; the negative partner is the image ``m`` places
    further in the grouped order, cyclically, with ``m`` the largest group's size, which always lands in another
    group when no identity holds more than half the batch (PK batches: P >= 2 identities of K). Both choices are
    permutations, so every image is once the first and once the second member of a positive pair and of a negative
    pair. Where a choice cannot be made (an identity with one image; an identity with more than half the batch) that
    pair is left out rather than made wrong.
    """
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    arange = torch.arange(n, device=labels.device)
    first = same.int().argmax(1)  # the batch index of each image's group's first image
    order = torch.argsort(first * n + arange)  # grouped order: group by first appearance, then batch order
    position = torch.empty_like(order)
    position[order] = arange
    size = same.sum(1)
    rank = (same & (arange[None, :] < arange[:, None])).sum(1)  # images of the group before this one
    start = position - rank
    positive = order[start + (rank + 1) % size]
    negative = order[(position + size.max()) % n]
    pos = torch.zeros(n, n, dtype=torch.bool, device=labels.device)
    neg = torch.zeros_like(pos)
    pos[arange, positive] = positive != arange
    neg[arange, negative] = labels[negative] != labels
    return pos, neg
