"""How one model's test embeddings are spread: intra- vs inter-identity cosine distances, and clustering.

The resolution seed asks "are same identities' embeddings close, different identities' far?" (histograms of the two
distance populations); the cross-age seed's bonus clusters the test embeddings (analysis/clustering.py). Both run
on the identification images of the evaluation dataset (people with at least two images), plain features.

Same-identity pairs are all pairs of an identity's images, capped at ``max_pairs`` by a seeded sample; as many
different-identity pairs are drawn with the same seed, so the two histograms have comparable counts.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

BINS = np.linspace(0.0, 2.0, 81)  # cosine distance 1 - cos lies in [0, 2]


def pair_indices(identities: np.ndarray, max_pairs: int, rng: np.random.Generator):
    """(i, j) rows of up to ``max_pairs`` same-identity pairs and as many different-identity pairs."""
    _, codes = np.unique(identities, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    same = [(order[a], order[b]) for s, e in zip(starts, ends) for a in range(s, e) for b in range(a + 1, e)]
    same = np.array(same, dtype=np.int64).reshape(-1, 2)
    if len(same) > max_pairs:
        same = same[np.sort(rng.choice(len(same), size=max_pairs, replace=False))]
    n = len(codes)
    diff = np.empty((0, 2), dtype=np.int64)
    while len(diff) < len(same):  # rejection sampling: different-identity pairs are the vast majority
        cand = rng.integers(0, n, size=(2 * (len(same) - len(diff)) + 16, 2))
        cand = cand[codes[cand[:, 0]] != codes[cand[:, 1]]]
        diff = np.concatenate([diff, cand])[:len(same)]
    return same, diff


def _population(d: np.ndarray) -> dict:
    return {"n": int(len(d)), "mean": float(d.mean()), "std": float(d.std()),
            "histogram": np.histogram(d, bins=BINS)[0].tolist()}


def distance_stats(features: np.ndarray, identities, *, max_pairs: int = 50000, seed: int = 0) -> dict:
    """Histograms and moments of intra- and inter-identity cosine distances, with their separation d'."""
    f = unit_rows(features)
    ids = np.asarray(identities)
    same, diff = pair_indices(ids, max_pairs, np.random.default_rng(seed))
    if not len(same):
        raise ValueError("no identity has two images: intra-identity distances need at least one")
    intra = 1.0 - np.einsum("ij,ij->i", f[same[:, 0]], f[same[:, 1]])
    inter = 1.0 - np.einsum("ij,ij->i", f[diff[:, 0]], f[diff[:, 1]])
    pooled = np.sqrt((intra.var() + inter.var()) / 2)
    return {"bins": BINS.tolist(), "intra": _population(intra), "inter": _population(inter),
            # d' (decidability, Daugman): how many pooled standard deviations apart the two means are
            "d_prime": float((inter.mean() - intra.mean()) / pooled) if pooled > 0 else None,
            # the share of different-identity pairs closer than the median same-identity pair
            "inter_below_intra_median": float((inter < np.median(intra)).mean())}


def embedding_stats(emb: dict[str, np.ndarray], paths: list[str], identities: list[str], *, threshold: float,
                    seed: int = 0, max_pairs: int = 50000) -> dict:
    """Distances and clustering of the embedded ``paths`` (failed faces dropped and counted)."""
    from facebench.analysis.clustering import cluster_embeddings
    from facebench.io import rows_of

    rows = rows_of(emb["paths"].tolist(), paths, lambda n, first: f"{n} image(s) have no embedding, e.g. {first}")
    ok = emb["status"][rows] != "failed"
    f = emb["features"][rows[ok]]
    ids = np.asarray(identities)[ok]
    norms = np.linalg.norm(f.astype(np.float64), axis=1)
    return {"kind": "embedding-stats", "images": int(ok.sum()), "identities": int(len(np.unique(ids))),
            "dropped_failed_faces": int((~ok).sum()), "embedding_size": int(f.shape[1]), "seed": seed,
            "feature_norm": {"mean": float(norms.mean()), "std": float(norms.std())},
            "distances": distance_stats(f, ids, max_pairs=max_pairs, seed=seed),
            "clustering": cluster_embeddings(f, ids, threshold=threshold, seed=seed)}
