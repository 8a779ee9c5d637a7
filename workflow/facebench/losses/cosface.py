"""CosFace / AM-Softmax (Wang et al., CVPR 2018): target logit s (cos(theta_y) - m), others s cos(theta_j)."""
from __future__ import annotations

from facebench.losses.base import Loss, LossOutput, one_hot
from facebench.losses.registry import register


@register("cosface")
class CosFace(Loss):
    """An additive margin in cosine space; m = 0 is norm-softmax."""

    def __init__(self, embedding_size: int, num_classes: int, *, s: float = 30.0, m: float = 0.35,
                 focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.s, self.m = float(s), float(m)
        self.require(self.s > 0, f"option s must be > 0, got {s!r}")
        self.require(self.m >= 0, f"option m must be >= 0, got {m!r}")

    def compute(self, x, labels) -> LossOutput:
        cos = self.cosine(x)
        logits = self.s * (cos - self.m * one_hot(labels, cos))
        return self.finish(logits, labels, scores=self.s * cos)
