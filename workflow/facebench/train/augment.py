"""Training-time augmentation of a batch of aligned faces, vectorised over the batch and seeded per step.

Every random draw comes from the ``torch.Generator`` the loop passes in (seeded by (seed, step)), so a resumed run
draws exactly what an uninterrupted one would. Input and output: float N x H x W x 3 in 0..255, RGB.

``part``: the faces are one slice of a larger batch (a data-parallel process's share). The draws are still made for
the whole batch and the slice's taken, so each face gets the pixels it would get in the whole batch; every option
works face by face, which makes that exact.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facebench.resolution import degrade

# the options and their "off" values; config key train.augment takes any of them
DEFAULTS = {"flip": True, "brightness": 0.0, "grayscale": 0.0, "rotation": 0.0, "degrade": None}
_LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's convert("L")


def augment(x: torch.Tensor, options: dict, gen: torch.Generator,
            part: tuple[int, slice] | None = None) -> torch.Tensor:
    """Apply the configured augmentations in a fixed order: resolution, rotation, brightness, grayscale, flip.
    ``part`` = (whole batch size, the slice ``x`` is of it)."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"config key train.augment: unknown option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **options}
    n = x.shape[0]
    total, rows = part if part is not None else (n, slice(0, n))
    if len(range(total)[rows]) != n:
        raise ValueError(f"augment: a part {rows} of a batch of {total} does not hold the {n} faces given")
    x = x.float()

    def draw():  # draws come from the CPU generator wherever the batch lives, so CPU and GPU runs draw alike
        return torch.rand(total, generator=gen)[rows].to(x.device)

    if opts["degrade"]:
        # resolution.degrade's own draw, made here for the whole batch; p = 1 then degrades exactly the faces picked
        pick = draw() < float(opts["degrade"].get("p", 0.5))
        if pick.any():
            low = degrade(x[pick], int(opts["degrade"]["size"]), 1.0, torch.Generator())
            x = x.clone()
            x[pick] = low
    if opts["rotation"]:
        angles = (draw() * 2 - 1) * float(opts["rotation"])
        x = rotate(x, angles)
    if opts["brightness"]:
        b = float(opts["brightness"])
        factor = 1 + (draw() * 2 - 1) * b
        x = (x * factor.view(n, 1, 1, 1)).clamp(0, 255)
    if opts["grayscale"]:
        gray = draw() < float(opts["grayscale"])
        luma = (x * _LUMA.to(x.device)).sum(-1, keepdim=True).expand_as(x)
        x = torch.where(gray.view(n, 1, 1, 1), luma, x)
    if opts["flip"]:
        flip = draw() < 0.5
        x = torch.where(flip.view(n, 1, 1, 1), x.flip(2), x)
    return x


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each face about its centre by its angle (bilinear, black outside), N x H x W x 3."""
    theta = degrees * math.pi / 180
    cos, sin = torch.cos(theta), torch.sin(theta)
    zeros = torch.zeros_like(cos)
    mat = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    img = x.permute(0, 3, 1, 2)
    grid = F.affine_grid(mat, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False).permute(0, 2, 3, 1)
