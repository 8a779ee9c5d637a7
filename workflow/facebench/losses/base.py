"""The base every head and loss shares: option checks, the float32 compute, and the one cross-entropy step.

Classifying heads turn embeddings into logits and end in `finish`, which goes through `cross_entropy`, so focal loss
(`focal_gamma`) works on all of them. Metric losses (contrastive, triplet) set `classifies = False` and own no weights.
A loss that adds a pair term to a classifier (siamese) wraps a registered classifying loss (`wraps_classifier`), so its
class weights are that classifier's and carry over from a model trained with the classifier alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

COS_EPS = 1e-7  # keeps cos off +-1, so acos and sqrt(1 - cos^2) have finite gradients in float32
NORM_EPS = 1e-6  # floor on ||x|| when normalising: a zero embedding gets a bounded (1/eps) gradient, not NaN


@dataclass
class LossOutput:
    """What a loss hands the training loop."""

    loss: Tensor  # scalar float32, the thing to backprop
    logits: Tensor | None  # N x C margin-free class scores, detached, for the training accuracy; None for metric losses
    # named components for the log, as detached 0-d tensors on the loss's device: turning each into a Python float
    # here would make the host wait for the device every step; the loop reads them together when it logs
    parts: dict[str, Tensor] = field(default_factory=dict)


class Loss(nn.Module):
    """A head plus its loss: `forward(embeddings, labels) -> LossOutput`; subclasses implement `compute`."""

    name: ClassVar[str] = "?"  # set by registry.register
    classifies: ClassVar[bool] = True  # owns a class weight matrix `weight` (num_classes x embedding_size)
    needs_pairs: ClassVar[bool] = False  # wants PK-sampled batches (P identities x K images each)
    wraps_classifier: ClassVar[bool] = False  # the class weights live in a wrapped classifying loss, `classifier`

    def __init__(self, embedding_size: int, num_classes: int | None, *, focal_gamma: float = 0.0):
        super().__init__()
        self.embedding_size = int(embedding_size)
        self.focal_gamma = float(focal_gamma)
        self.require(self.embedding_size >= 1, f"embedding_size must be >= 1, got {embedding_size!r}")
        self.require(self.focal_gamma >= 0, f"option focal_gamma must be >= 0, got {focal_gamma!r}")
        self.require(self.classifies or self.focal_gamma == 0, "option focal_gamma needs a classifier; none here")
        self.num_classes = None if num_classes is None else int(num_classes)
        if self.classifies:
            self.require(self.num_classes is not None and self.num_classes >= 2,
                         f"num_classes must be >= 2, got {num_classes!r}")
        if self.classifies and not self.wraps_classifier:
            self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_classes, self.embedding_size)))

    def require(self, ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"loss {self.name!r}: {message}")

    def forward(self, embeddings: Tensor, labels: Tensor) -> LossOutput:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"loss {self.name!r}: embeddings must be N x {self.embedding_size}, "
                             f"got {tuple(embeddings.shape)}")
        if labels.shape != embeddings.shape[:1]:
            raise ValueError(f"loss {self.name!r}: labels must have shape ({embeddings.shape[0]},), "
                             f"got {tuple(labels.shape)}")
        # margins on cos near +-1 and exp(s cos) are not safe in fp16/bf16: the head runs in float32, autocast off
        with torch.autocast(embeddings.device.type, enabled=False):
            return self.compute(embeddings.float(), labels.long())

    def compute(self, x: Tensor, labels: Tensor) -> LossOutput:
        raise NotImplementedError

    def cosine(self, x: Tensor) -> Tensor:
        """N x C cos(theta_j) between each feature and each class weight, clamped off +-1."""
        cos = F.normalize(x, dim=1, eps=NORM_EPS) @ F.normalize(self.weight, dim=1, eps=NORM_EPS).t()
        return cos.clamp(-1 + COS_EPS, 1 - COS_EPS)

    def cross_entropy(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Mean CE, or focal loss -(1 - p_t)^gamma log p_t (Lin et al., ICCV 2017) when focal_gamma > 0."""
        log_pt = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        if self.focal_gamma == 0:
            return -log_pt.mean()
        # 1 - p_t through expm1 is exact near p_t = 1; the floor keeps pow's gradient finite when gamma < 1
        modulation = (-torch.expm1(log_pt)).clamp_min(1e-12).pow(self.focal_gamma)
        return -(modulation * log_pt).mean()

    def finish(self, logits: Tensor, labels: Tensor, scores: Tensor | None = None, **parts: Tensor) -> LossOutput:
        """CE on the (margin) `logits`; `scores` are the margin-free logits reported for the accuracy."""
        ce = self.cross_entropy(logits, labels)
        scores = logits if scores is None else scores
        return LossOutput(ce, scores.detach(), {"ce": ce.detach(), **parts})

    def classifying_head(self) -> Loss | None:
        """The loss that holds the class weights (what fine-tuning carries over from its init model); None if none."""
        if not self.classifies:
            return None
        return self.classifier if self.wraps_classifier else self

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer param groups: one group of every parameter at `lr` (none for parameter-free losses)."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr}] if params else []


def one_hot(labels: Tensor, like: Tensor) -> Tensor:
    """N x C boolean mask of each row's label, shaped like the logits `like`."""
    return F.one_hot(labels, like.shape[1]).bool()
