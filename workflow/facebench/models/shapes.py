"""What the backbone families share: argument checks (so every family words its errors the same way) and the
residual networks' weight initialisation."""
from __future__ import annotations

import torch
from torch import nn


def check_embedding_size(backbone: str, embedding_size) -> int:
    if isinstance(embedding_size, bool) or not isinstance(embedding_size, int) or embedding_size < 1:
        raise ValueError(f"{backbone}: embedding_size must be a positive int, got {embedding_size!r}")
    return embedding_size


def check_input_size(backbone: str, input_size, multiple: int, minimum: int | None = None) -> tuple[int, int]:
    """(H, W) as a tuple of ints; each side at least ``minimum`` (default ``multiple``) and divisible by ``multiple``.

    Divisibility keeps every stride-2 stage exact, so no border row is silently dropped or padded on one side only.
    """
    minimum = multiple if minimum is None else minimum
    try:
        h, w = (int(s) for s in input_size)
        ok = (h, w) == tuple(input_size)  # refuses 112.5, accepts a config list [112, 96]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{backbone}: input_size must be a pair (H, W) of ints, got {input_size!r}")
    if min(h, w) < minimum or h % multiple or w % multiple:
        raise ValueError(f"{backbone}: input_size {(h, w)} does not fit: each side must be at least {minimum} "
                         f"and a multiple of {multiple} (the network's overall stride)")
    return h, w


def check_batch(backbone: str, x: torch.Tensor, input_size: tuple[int, int]) -> None:
    """Raise a ValueError naming the sizes instead of letting the FC layer fail with a bare matmul shape error."""
    if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != input_size:
        raise ValueError(f"{backbone}: expected a batch N x 3 x {input_size[0]} x {input_size[1]} "
                         f"(its input_size), got {tuple(x.shape)}")


def init_weights(model: nn.Module) -> None:
    """He-normal (fan_out) convolutions, BN at scale 1 / shift 0; linear layers keep PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
