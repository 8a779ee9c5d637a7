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


def all_pairs_auc(features: np.ndarray, identities, block_entries: int = 1 << 23) -> dict:
    """ROC AUC over all n(n-1)/2 image pairs (cosine similarity; same identity = 1) in bounded memory.

    The AUC is the Mann-Whitney statistic, which is what scikit-learn's roc_auc_score computes for binary labels: the
    share of (same, different) pair couples in which the same-identity pair scores higher, ties counting half. The
    same-identity similarities (few: sum of k(k-1)/2 over identities) are computed per identity and sorted; the
    different-identity ones are streamed in blocks of about ``block_entries`` similarities and counted against them
    by binary search, so memory stays at one block and the positives instead of all n(n-1)/2 scores (20 billion at
    200k images). Written here rather than taken from scikit-learn because roc_auc_score needs every score at once.
    """
    _, codes = np.unique(np.asarray(identities), return_inverse=True)
    f = unit_rows(features, np.float32)
    n = len(f)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    positives = []
    for members in np.split(order, bounds):
        if len(members) > 1:
            sim = f[members] @ f[members].T
            positives.append(sim[np.triu_indices(len(members), k=1)])
    pos = np.sort(np.concatenate(positives)) if positives else np.empty(0, np.float32)
    n_pairs = n * (n - 1) // 2
    n_neg = n_pairs - len(pos)
    if len(pos) == 0 or n_neg == 0:
        raise ValueError(f"an all-pairs AUC needs same- and different-identity pairs: {len(pos)} and {n_neg}")
    above, ties = 0, 0
    rows = max(1, block_entries // max(n, 1))
    for lo in range(0, n - 1, rows):
        hi = min(n - 1, lo + rows)
        sim = f[lo:hi] @ f[lo + 1:].T  # row lo + r against columns lo + 1 + c: the pair (lo + r, lo + 1 + c)
        r, c = np.nonzero(np.arange(lo + 1, n)[None, :] > np.arange(lo, hi)[:, None])  # each pair once
        neg = codes[lo + r] != codes[lo + 1 + c]
        v = sim[r[neg], c[neg]]
        left, right = np.searchsorted(pos, v, side="left"), np.searchsorted(pos, v, side="right")
        above += int((len(pos) - right).sum())
        ties += int((right - left).sum())
    return {"all_pairs": int(n_pairs), "all_pairs_positive": int(len(pos)),
            "auc_all_pairs": float((above + 0.5 * ties) / (len(pos) * n_neg))}
