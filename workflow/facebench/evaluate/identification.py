"""Closed-set identification: every image is a probe against all the other images (leave-one-out gallery).

Rank-N is the share of probes for which an image of the same identity is among the N most similar other images
(cosine similarity). This is the definition the cross-age seed uses for its Rank-1, and on LFW it is run over the
people with at least two images, so every probe has a true match in the gallery. The CMC (cumulative match
characteristic) is the same rate at every rank 1..``cmc`` (bob.measure.cmc's curve); a rank beyond the gallery's
other images counts as a hit, as every probe's match is among them.

``all_pairs_auc`` is the seed's AUC beside it: the ROC area over the similarities of every pair of those images
(same identity = positive), the value scikit-learn's roc_auc_score gives. It is exact up to ``exact_pairs`` pairs
(default 10^9, about 45,000 images); above, the all-pairs work (n^2 / 2 similarities, each counted against the
sorted positives) takes hours on a few cores, so it is estimated (``ESTIMATOR``) and the output says so.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

EXACT_PAIRS = 10 ** 9  # above this many image pairs the AUC is estimated (config: identification.auc_exact_pairs)
SAMPLE_NEGATIVES = 10 ** 7  # identification.auc_sample_negatives: a standard error below 1.6e-4
ESTIMATOR = ("sampled: every same-identity pair, against a seeded uniform sample of different-identity pairs "
             "(drawn with replacement); the AUC is the sample's mean Mann-Whitney score, with its standard error")


def rank_n(features: np.ndarray, identities, ranks=(1, 5), block: int = 1024, cmc: int = 20,
           block_entries: int = 1 << 24) -> dict:
    """Rank-N accuracy over all probes, and the CMC over ranks 1..``cmc`` (``"cmc"``: its rates, rank 1 first);
    computed in blocks of at most ``block`` probes and ``block_entries`` similarities (64 MB of float32, and about
    three times that in the top-k's temporaries), so memory does not grow with the square of the images."""
    ids = np.asarray(identities)
    _, codes = np.unique(ids, return_inverse=True)
    counts = np.bincount(codes)
    if np.any(counts[codes] < 2):
        raise ValueError("every identity needs at least two images for closed-set rank-N (a probe needs a match)")
    f = unit_rows(features, np.float32)
    n = len(f)
    max_rank = max(*ranks, cmc)
    kth = min(max_rank, n - 2)
    step = max(1, min(block, block_entries // max(n, 1)))
    hit_rank = np.empty(n, dtype=np.int64)
    for lo in range(0, n, step):
        sim = f[lo:lo + step] @ f.T
        rows = np.arange(sim.shape[0])
        sim[rows, lo + rows] = -np.inf  # a probe is not in its own gallery
        np.negative(sim, out=sim)  # in place: argpartition finds the smallest, and a copy would double the block
        top = np.argpartition(sim, kth=kth, axis=1)[:, :max_rank + 1]
        top_sim = np.take_along_axis(sim, top, axis=1)
        order = np.argsort(top_sim, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)[:, :max_rank]
        same = codes[top] == codes[lo + rows][:, None]
        first = np.where(same.any(axis=1), same.argmax(axis=1) + 1, max_rank + 1)
        hit_rank[lo:lo + len(rows)] = first
    return {"n_probes": int(n), "n_identities": int(len(counts)),
            **{f"rank{r}": float(np.mean(hit_rank <= r)) for r in ranks},
            "cmc": [float(np.mean(hit_rank <= r)) for r in range(1, cmc + 1)]}


def _positives(f: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sorted similarities of every same-identity pair (sum of k(k-1)/2 over identities: few)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    positives = []
    for members in np.split(order, bounds):
        if len(members) > 1:
            sim = f[members] @ f[members].T
            positives.append(sim[np.triu_indices(len(members), k=1)])
    return np.sort(np.concatenate(positives)) if positives else np.empty(0, np.float32)


BUCKETS = 1 << 20  # value buckets over [-1, 1] that _win_counts looks a negative's rank up in (8 MB of counts)


def _bucket(x: np.ndarray) -> np.ndarray:
    """The bucket of each float32 similarity: non-decreasing in the value (float rounding is monotone, and so is the
    clip), so a positive in a lower bucket is below the value and one in a higher bucket above it."""
    return np.clip(((x + np.float32(1)) * np.float32(BUCKETS / 2)).astype(np.int32), 0, BUCKETS - 1)


class _Ranked:
    """The sorted positives and, per bucket, how many positives lie in the buckets below (``below[b]``)."""

    def __init__(self, pos: np.ndarray):
        self.pos = pos
        self.below = np.zeros(BUCKETS + 1, np.int64)
        self.below[1:] = np.cumsum(np.bincount(_bucket(pos), minlength=BUCKETS))


def _win_counts(ranked: _Ranked, v: np.ndarray) -> np.ndarray:
    """For each negative in ``v``: #(positives above) + #(positives tied) / 2, i.e. P - (left + right) / 2 for the
    two insertion points. Where the negative's bucket holds no positive, its left insertion point is the count
    below the bucket, with no tie; only the others (9% of LFW's negatives) are binary-searched: 3x faster than a
    search for every negative (4.5 -> 1.5 s for LFW's 42 million pairs), the same counts. The right insertion
    point is searched only where there is a tie (rare)."""
    pos = ranked.pos
    b = _bucket(v)
    left = ranked.below[b]
    mixed = np.flatnonzero(left != ranked.below[b + 1])
    left[mixed] = np.searchsorted(pos, v[mixed], side="left")
    counts = (len(pos) - left).astype(np.float64)
    tied = mixed[pos[np.minimum(left[mixed], len(pos) - 1)] == v[mixed]]
    counts[tied] -= 0.5 * (np.searchsorted(pos, v[tied], side="right") - left[tied])
    return counts


def _exact_wins(f: np.ndarray, codes: np.ndarray, ranked: _Ranked, block_entries: int) -> float:
    """_win_counts summed over every different-identity pair, streamed in blocks of rows against later columns."""
    n = len(f)
    total = 0.0
    rows = max(1, block_entries // max(n, 1))
    for lo in range(0, n - 1, rows):
        hi = min(n - 1, lo + rows)
        r = hi - lo
        sim = f[lo:hi] @ f[lo + 1:].T  # row lo + a against column lo + 1 + b: the pair (lo + a, lo + 1 + b)
        keep = codes[lo:hi, None] != codes[None, lo + 1:]
        keep[:, :r - 1] &= np.arange(r - 1)[None, :] >= np.arange(r)[:, None]  # each pair once: b >= a
        total += float(_win_counts(ranked, sim[keep]).sum())
    return total


def _sampled_wins(f: np.ndarray, codes: np.ndarray, ranked: _Ranked, m: int, seed: int, chunk: int = 1 << 16):
    """Per-negative scores of ``m`` uniformly drawn different-identity pairs: (sum, sum of squares)."""
    rng = np.random.default_rng(seed)
    n = len(f)
    a, b = np.empty((chunk, f.shape[1]), f.dtype), np.empty((chunk, f.shape[1]), f.dtype)  # reused: fresh pages fault
    done, s1, s2 = 0, 0.0, 0.0
    while done < m:
        i, j = rng.integers(0, n, size=(2, chunk))  # i != j drawn uniformly: each unordered pair equally likely
        ok = (i != j) & (codes[i] != codes[j])
        i, j = i[ok][:m - done], j[ok][:m - done]
        k = len(i)
        np.take(f, i, axis=0, out=a[:k], mode="clip")  # "clip": unbuffered (indices are valid)
        np.take(f, j, axis=0, out=b[:k], mode="clip")
        v = np.einsum("ij,ij->i", a[:k], b[:k])
        score = _win_counts(ranked, v) / len(ranked.pos)
        s1, s2 = s1 + float(score.sum()), s2 + float(np.square(score).sum())
        done += k
    return s1, s2


def all_pairs_auc(features: np.ndarray, identities, block_entries: int = 1 << 23, *, exact_pairs: int = EXACT_PAIRS,
                  sample_negatives: int = SAMPLE_NEGATIVES, seed: int = 0) -> dict:
    """ROC AUC over all n(n-1)/2 image pairs (cosine similarity; same identity = 1) in bounded memory.

    The AUC is the Mann-Whitney statistic, which is what scikit-learn's roc_auc_score computes for binary labels: the
    share of (same, different) pair couples in which the same-identity pair scores higher, ties counting half. The
    same-identity similarities are computed per identity and sorted; up to ``exact_pairs`` pairs, the
    different-identity ones are streamed in blocks of about ``block_entries`` similarities and counted against them
    by binary search, so memory stays at one block and the positives instead of all n(n-1)/2 scores (20 billion at
    200k images). Written here rather than taken from scikit-learn because roc_auc_score needs every score at once.
    Above ``exact_pairs``, ``sample_negatives`` different-identity pairs drawn with ``seed`` stand for all of them
    (``ESTIMATOR``); ``auc_all_pairs_method`` says which, and a sample records its size, seed and standard error.
    """
    _, codes = np.unique(np.asarray(identities), return_inverse=True)
    f = unit_rows(features, np.float32)
    n = len(f)
    pos = _positives(f, codes)
    n_pairs = n * (n - 1) // 2
    n_neg = n_pairs - len(pos)
    if len(pos) == 0 or n_neg == 0:
        raise ValueError(f"an all-pairs AUC needs same- and different-identity pairs: {len(pos)} and {n_neg}")
    out = {"all_pairs": int(n_pairs), "all_pairs_positive": int(len(pos))}
    if n_pairs <= exact_pairs:
        wins = _exact_wins(f, codes, _Ranked(pos), block_entries)
        return {**out, "auc_all_pairs": float(wins / (len(pos) * n_neg)), "auc_all_pairs_method": "exact"}
    if sample_negatives < 2:
        raise ValueError(f"an all-pairs AUC estimate needs at least 2 sampled negatives, got {sample_negatives}")
    s1, s2 = _sampled_wins(f, codes, _Ranked(pos), sample_negatives, seed)
    mean = s1 / sample_negatives
    var = max(0.0, (s2 - sample_negatives * mean * mean) / (sample_negatives - 1))
    return {**out, "auc_all_pairs": float(mean), "auc_all_pairs_method": "sampled",
            "auc_all_pairs_sample": {"estimator": ESTIMATOR, "negatives": int(sample_negatives), "seed": int(seed),
                                     "positives": int(len(pos)), "of_negatives": int(n_neg),
                                     "exact_above_pairs": int(exact_pairs),
                                     "standard_error": float(np.sqrt(var / sample_negatives))}}
