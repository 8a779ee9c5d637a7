"""Siamese fine-tuning (the cross-age study's stage 2, seed 003 eqs. 1-2): a classifier's cross-entropy plus a
contrastive loss on pairs of the batch.

    Total = (CE_i + CE_j) / 2 + lambda * L2,    L2 = Y D^p / 2 + (1 - Y) max(0, m - D)^2 / 2

averaged over the pairs, D the Euclidean distance between the two embeddings of a pair, Y = 1 for a same-identity
pair and 0 otherwise, m = 2.5 and lambda = 1 as in the seed.

- The classifier is a registered classifying loss (`classifier`, default ArcFace, with `classifier_args`): its class
  weights are this loss's (`classifying_head`), so a stage-2 run with `train.init` starts them from the stage-1 model.
- Pairs: `pairs.balanced_pairs` gives each image of the PK batch one same-identity and one different-identity
  partner, as permutations; every image is therefore once in each role of each kind of pair, and the pair average
  of (CE_i + CE_j) / 2 is the batch mean of CE, which is what the classifier computes.
- The seed writes the positive term Y D / 2; `positive_power: 2` (the default) squares it as Hadsell, Chopra & LeCun
  (CVPR 2006) do, whose gradient fades as a pair meets instead of keeping a constant pull (and D's gradient is
  undefined at D = 0); `positive_power: 1` is the seed's formula as written.
- Distances are on the raw embeddings by default (`normalize: false`): the seed's margin 2.5 is beyond the largest
  distance between unit vectors (2), where every negative pair would pay.
"""
from __future__ import annotations

from facebench.losses.base import Loss, LossOutput
from facebench.losses.contrastive import pair_terms
from facebench.losses.pairs import balanced_pairs, masked_mean
from facebench.losses.registry import build, register


@register("siamese")
class Siamese(Loss):
    """CE of the wrapped classifier + lambda x the contrastive loss of eq. 1 on balanced in-batch pairs."""

    needs_pairs = True
    wraps_classifier = True

    def __init__(self, embedding_size: int, num_classes: int, *, classifier: str = "arcface",
                 classifier_args: dict | None = None, lambda_: float = 1.0, margin: float = 2.5,
                 normalize: bool = False, positive_power: int = 2, focal_gamma: float = 0.0):
        super().__init__(embedding_size, num_classes)
        self.lambda_, self.margin, self.normalize = float(lambda_), float(margin), bool(normalize)
        self.positive_power = positive_power
        self.require(self.lambda_ >= 0, f"option lambda must be >= 0, got {lambda_!r}")
        self.require(self.margin > 0, f"option margin must be > 0, got {margin!r}")
        self.require(positive_power in (1, 2), f"option positive_power must be 1 or 2, got {positive_power!r}")
        args = dict(classifier_args or {})
        self.require("focal_gamma" not in args, "give focal_gamma as this loss's option, not in classifier_args")
        try:
            self.classifier = build(classifier, embedding_size, num_classes, focal_gamma=focal_gamma, **args)
        except (KeyError, TypeError) as err:
            raise ValueError(f"loss {self.name!r}: option classifier: {err.args[0]}") from None
        self.require(self.classifier.classifies and not self.classifier.needs_pairs,
                     f"option classifier must be a classifying loss without a pair term, got {classifier!r}")

    def compute(self, x, labels) -> LossOutput:
        out = self.classifier(x, labels)
        pos, neg = balanced_pairs(labels)
        pull, push = pair_terms(x, self.margin, self.normalize, self.positive_power)
        # eq. 1 averaged over every pair formed (N positive + N negative in a PK batch); the 1/2 is the seed's
        contrastive = ((pull * pos).sum() + (push * neg).sum()) / (2 * (pos.sum() + neg.sum()).clamp_min(1))
        out.loss = out.loss + self.lambda_ * contrastive
        out.parts.update(contrastive=contrastive.detach(), pull=masked_mean(pull, pos).detach(),
                         push=masked_mean(push, neg).detach())
        return out

    def param_groups(self, lr: float) -> list[dict]:
        return self.classifier.param_groups(lr)  # the classifier's own grouping (center's centers, say)
