"""Which faces go into each batch: a seeded shuffle per epoch, or P identities x K faces (PK) for pair losses.

Batches are a pure function of (seed, epoch), so a resumed run finds the batch of any step without saved state.
"""
from __future__ import annotations

import numpy as np


class Sampler:
    """``batches(epoch)`` -> list of index arrays, each of ``batch_size`` faces; the same count every epoch."""

    def __init__(self, labels: np.ndarray, batch_size: int, seed: int, pk: tuple[int, int] | None = None):
        self.labels = np.asarray(labels)
        self.seed = int(seed)
        self.pk = pk
        if pk is None:
            if batch_size > len(self.labels):
                raise ValueError(f"config key train.batch_size: {batch_size} is larger than the training set "
                                 f"({len(self.labels)} faces)")
            self.batch_size = int(batch_size)
            self.steps_per_epoch = len(self.labels) // self.batch_size
        else:
            p, k = pk
            self.by_identity = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
            # PK batches need identities with at least two faces (a positive pair); others are left out
            self.by_identity = [ix for ix in self.by_identity if len(ix) >= 2]
            if len(self.by_identity) < p:
                raise ValueError(f"config key train.pk: P={p} identities per batch, but only "
                                 f"{len(self.by_identity)} identities have two or more faces")
            self.batch_size = p * k
            self.steps_per_epoch = len(self.by_identity) // p

    def batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        if self.pk is None:
            order = rng.permutation(len(self.labels))
            return [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.steps_per_epoch)]
        p, k = self.pk
        ids = rng.permutation(len(self.by_identity))
        out = []
        for b in range(self.steps_per_epoch):
            chosen = [self.by_identity[i] for i in ids[b * p:(b + 1) * p]]
            # K faces per identity, without replacement where it has K or more
            out.append(np.concatenate([rng.choice(ix, size=k, replace=len(ix) < k) for ix in chosen]))
        return out
