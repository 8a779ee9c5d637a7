"""L-Softmax (Liu et al., ICML 2016): A-Softmax's psi on unnormalised weights: target ||W_y|| ||x|| psi(theta_y)."""
from __future__ import annotations

from torch import Tensor

from facebench.losses.registry import register
from facebench.losses.sphereface import SphereFace


@register("lsoftmax")
class LSoftmax(SphereFace):
    """SphereFace with the weight norm kept: logits ||W_j|| ||x|| cos(theta_j), the same psi and lambda annealing.

    Keeping ||W_j|| lets classes with more samples grow larger weights, the bias A-Softmax removed by normalising them.
    """

    def magnitude(self, x: Tensor) -> Tensor:
        """N x C: ||x|| ||W_j||."""
        return x.norm(dim=1, keepdim=True) * self.weight.norm(dim=1)
