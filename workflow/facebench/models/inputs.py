"""Faces from an aligned-face store to a network's input: channel order, size and normalisation of one model.

One function serves training and embedding, so a model always sees its faces prepared the same way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def to_model_input(faces: torch.Tensor, spec: dict) -> torch.Tensor:
    """uint8 (or float 0..255) N x H x W x 3 RGB -> float N x 3 x h x w in the model's order, size and scale.

    ``spec`` is the model's ``input`` mapping: ``channels`` (rgb | bgr), ``mean``/``std`` (applied to x/255) and an
    optional ``size`` [h, w] that differs from the store's crop (area-resized: the store keeps the template's crop).
    """
    x = faces.permute(0, 3, 1, 2).float()
    if spec.get("channels", "rgb") == "bgr":
        x = x.flip(1)
    size = spec.get("size")
    if size and tuple(size) != tuple(x.shape[-2:]):
        x = resize(x, tuple(size))
    # on the faces' device: training and validation prepare batches already on the GPU
    mean = torch.tensor(spec.get("mean", [0.5, 0.5, 0.5]), dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.get("std", [0.5, 0.5, 0.5]), dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average when shrinking (no aliasing), bilinear when enlarging; N x C x H x W float."""
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
