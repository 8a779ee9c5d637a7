"""SphereFace / A-Softmax (Liu et al., CVPR 2017): normalised weights, target logit ||x|| psi(theta_y), psi(theta) =
(-1)^k cos(m theta) - 2k with k = floor(m theta / pi), softened early in training by the original's lambda annealing.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from facebench.losses.base import Loss, LossOutput, one_hot
from facebench.losses.registry import register


def psi(cos: Tensor, m: int) -> Tensor:
    """psi(theta) from cos(theta): cos(m theta) bent to decrease monotonically over [0, pi].

    cos(m theta) is the Chebyshev polynomial T_m(cos theta), so the gradient never passes through acos; acos only
    picks the branch k, which carries no gradient (psi is continuous across branches).
    """
    t_prev, t = torch.ones_like(cos), cos
    for _ in range(m - 1):
        t_prev, t = t, 2 * cos * t - t_prev  # T_{n+1} = 2 c T_n - T_{n-1}
    with torch.no_grad():
        k = torch.floor(m * torch.acos(cos.clamp(-1, 1)) / math.pi).clamp(0, m - 1)
    return (1 - 2 * (k % 2)) * t - 2 * k


@register("sphereface")
class SphereFace(Loss):
    """A multiplicative angular margin m (an integer, so cos(m theta) is a polynomial of cos theta).

    With m = 4 the margin is too hard to train from scratch, so, as in the original Caffe code, the target logit is
    (lambda cos + psi) / (1 + lambda) scaled by the feature norm, lambda = max(lambda_min, base (1 + gamma it)^-power)
    decaying over training iterations `it`. `iteration` is a buffer: it is saved in the state_dict and resumes with it.
    Every training-mode forward advances it by one before lambda is computed (the original's order: 1 on the first);
    eval-mode forwards leave it alone. The reported logits are the m = 1 ones, ||x|| cos(theta_j).
    """

    def __init__(self, embedding_size: int, num_classes: int, *, m: int = 4, base: float = 1500.0,
                 gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.require(isinstance(m, int | float) and int(m) == m and m >= 1,
                     f"option m must be a positive integer, got {m!r}")
        self.m = int(m)
        self.base, self.gamma, self.power, self.lambda_min = float(base), float(gamma), float(power), float(lambda_min)
        for key in ("base", "gamma", "power", "lambda_min"):
            self.require(getattr(self, key) >= 0, f"option {key} must be >= 0, got {getattr(self, key)!r}")
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def lambda_at(self, iteration: Tensor) -> Tensor:
        """lambda at ``iteration`` (a tensor), computed where the counter lives, in float64 as Python's floats were:
        reading the counter into Python (``int(self.iteration)``) would make the host wait for the GPU every step."""
        it = torch.as_tensor(iteration).double()
        return (self.base * (1 + self.gamma * it) ** -self.power).clamp_min(self.lambda_min)

    def magnitude(self, x: Tensor) -> Tensor:
        """What multiplies cos: ||x|| (weights are normalised)."""
        return x.norm(dim=1, keepdim=True)

    def compute(self, x, labels) -> LossOutput:
        if self.training:
            self.iteration += 1
        lam = self.lambda_at(self.iteration)
        cos = self.cosine(x)
        cos_y = cos.gather(1, labels[:, None])
        target = (lam * cos_y + psi(cos_y, self.m)) / (1 + lam)
        scale = self.magnitude(x)
        logits = scale * torch.where(one_hot(labels, cos), target, cos)
        return self.finish(logits, labels, scores=scale * cos, **{"lambda": lam.detach()})
