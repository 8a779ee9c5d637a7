"""DeepID2 (Sun et al., NeurIPS 2014): joint identification-verification, softmax CE + lambda * contrastive."""
from __future__ import annotations

from facebench.losses.base import LossOutput
from facebench.losses.contrastive import contrastive_terms
from facebench.losses.registry import register
from facebench.losses.softmax import Softmax


@register("softmax-contrastive")
class SoftmaxContrastive(Softmax):
    """Identification pulls classes apart, verification tightens each identity, on the same PK batch.

    lambda defaults to 1, not DeepID2's 0.05: that was tuned for unnormalised features, while the contrastive term
    here is on normalised embeddings (d in [0, 2]) and so already small next to the CE.
    """

    needs_pairs = True

    def __init__(self, embedding_size: int, num_classes: int, *, lambda_: float = 1.0, margin: float = 1.0,
                 normalize: bool = True, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes, focal_gamma=focal_gamma)
        self.lambda_, self.margin, self.normalize = float(lambda_), float(margin), bool(normalize)
        self.require(self.lambda_ >= 0, f"option lambda must be >= 0, got {lambda_!r}")
        self.require(self.margin > 0, f"option margin must be > 0, got {margin!r}")

    def compute(self, x, labels) -> LossOutput:
        out = super().compute(x, labels)
        pull, push = contrastive_terms(x, labels, self.margin, self.normalize)
        out.loss = out.loss + self.lambda_ * (pull + push)
        out.parts["contrastive"] = (pull + push).detach()
        return out
