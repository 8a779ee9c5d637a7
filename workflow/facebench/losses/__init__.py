"""Heads and losses, one module per loss; importing this package registers them all."""
from facebench.losses import (  # noqa: F401  (registers)
    arcface,
    center,
    contrastive,
    cosface,
    lsoftmax,
    norm_softmax,
    siamese,
    softmax,
    softmax_contrastive,
    sphereface,
    triplet,
)
from facebench.losses.base import Loss, LossOutput
from facebench.losses.registry import build, defaults, names, register

__all__ = ["Loss", "LossOutput", "build", "defaults", "names", "register"]
