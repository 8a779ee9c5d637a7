"""Closed-set identification: every image is a probe against all the other images (leave-one-out gallery).

Rank-N is the share of probes for which an image of the same identity is among the N most similar other images
(cosine similarity). This is the definition the cross-age seed uses for its Rank-1, and on LFW it is run over the
people with at least two images, so every probe has a true match in the gallery. The CMC (cumulative match
characteristic) is the same rate at every rank 1..``cmc`` (bob.measure.cmc's curve); a rank beyond the gallery's
other images counts as a hit, as every probe's match is among them.

``all_pairs_auc`` is the seed's AUC beside it: the ROC area over the similarities of every pair of those images
(same identity = positive), computed with scikit-learn as the seed did.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows


def rank_n(features: np.ndarray, identities, ranks=(1, 5), block: int = 1024, cmc: int = 20) -> dict:
    """Rank-N accuracy over all probes, and the CMC over ranks 1..``cmc`` (``"cmc"``: its rates, rank 1 first);
    computed in blocks so memory stays at block x N similarities."""
    ids = np.asarray(identities)
    _, codes = np.unique(ids, return_inverse=True)
    counts = np.bincount(codes)
    if np.any(counts[codes] < 2):
        raise ValueError("every identity needs at least two images for closed-set rank-N (a probe needs a match)")
    f = unit_rows(features, np.float32)
    n = len(f)
    max_rank = max(*ranks, cmc)
    hit_rank = np.empty(n, dtype=np.int64)
    for lo in range(0, n, block):
        sim = f[lo:lo + block] @ f.T
        rows = np.arange(sim.shape[0])
        sim[rows, lo + rows] = -np.inf  # a probe is not in its own gallery
        top = np.argpartition(-sim, kth=min(max_rank, n - 2), axis=1)[:, :max_rank + 1]
        top_sim = np.take_along_axis(sim, top, axis=1)
        order = np.argsort(-top_sim, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)[:, :max_rank]
        same = codes[top] == codes[lo + rows][:, None]
        first = np.where(same.any(axis=1), same.argmax(axis=1) + 1, max_rank + 1)
        hit_rank[lo:lo + len(rows)] = first
    return {"n_probes": int(n), "n_identities": int(len(counts)),
            **{f"rank{r}": float(np.mean(hit_rank <= r)) for r in ranks},
            "cmc": [float(np.mean(hit_rank <= r)) for r in range(1, cmc + 1)]}


def all_pairs_auc(features: np.ndarray, identities, block: int = 1024) -> dict:
    """ROC AUC over all n(n-1)/2 image pairs (cosine similarity; same identity = 1), scikit-learn's roc_auc_score."""
    from sklearn.metrics import roc_auc_score

    _, codes = np.unique(np.asarray(identities), return_inverse=True)
    f = unit_rows(features, np.float32)
    n = len(f)
    scores, labels = [], []
    for lo in range(0, n, block):
        sim = f[lo:lo + block] @ f.T
        i, j = np.triu_indices(sim.shape[0], k=1, m=n - lo)  # pairs (lo + i, lo + i + j'), j' > i: each pair once
        scores.append(sim[i, lo + j])
        labels.append(codes[lo + i] == codes[lo + j])
    s, y = np.concatenate(scores), np.concatenate(labels)
    return {"all_pairs": int(len(s)), "all_pairs_positive": int(y.sum()), "auc_all_pairs": float(roc_auc_score(y, s))}
