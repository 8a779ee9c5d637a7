"""Folds of a verification pairs list that has no sets of its own (CALFW, a one-set LFW file)."""
from __future__ import annotations


def balanced_folds(labels: list[int], n_folds: int) -> list[int]:
    """Fold per pair so every fold holds the same share of same and different pairs: the i-th of the n pairs of a
    class goes to fold i*k//n (contiguous within each class, in file order)."""
    folds = [0] * len(labels)
    for cls in (0, 1):
        idx = [i for i, y in enumerate(labels) if y == cls]
        for rank, i in enumerate(idx):
            folds[i] = rank * n_folds // len(idx)
    return folds
