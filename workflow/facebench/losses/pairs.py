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
