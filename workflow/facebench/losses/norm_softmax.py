"""NormFace (Wang et al., ACM MM 2017): features and class weights L2-normalised, logits = s cos(theta_j)."""
from __future__ import annotations

from facebench.losses.base import Loss, LossOutput
from facebench.losses.registry import register


@register("norm-softmax")
class NormSoftmax(Loss):
    """Cosine logits need the fixed scale s: cos alone is bounded in [-1, 1] and the softmax could never get sharp."""

    def __init__(self, embedding_size: int, num_classes: int, *, s: float = 30.0, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.s = float(s)
        self.require(self.s > 0, f"option s must be > 0, got {s!r}")

    def compute(self, x, labels) -> LossOutput:
        return self.finish(self.s * self.cosine(x), labels)
