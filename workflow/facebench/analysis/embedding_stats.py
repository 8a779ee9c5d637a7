"""How one model's test embeddings are spread: intra- vs inter-identity cosine distances, and clustering.

The resolution seed asks "are same identities' embeddings close, different identities' far?" (histograms of the two
distance populations); the cross-age seed's bonus clusters the test embeddings (analysis/clustering.py). Both run
on the identification images of the evaluation dataset (people with at least two images), plain features.

Same-identity pairs are all pairs of an identity's images, capped at ``max_pairs`` by a seeded sample; as many
different-identity pairs are drawn with the same seed (scorers.labelled_pairs), so the two histograms have
comparable counts.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

BINS = np.linspace(0.0, 2.0, 81)  # cosine distance 1 - cos lies in [0, 2]


def _population(d: np.ndarray) -> dict:
    return {"n": int(len(d)), "mean": float(d.mean()), "std": float(d.std()),
            "histogram": np.histogram(d, bins=BINS)[0].tolist()}


def pair_distances(f: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """1 - cos of the rows (i, j) of unit rows ``f``, a chunk of pairs at a time into two reused buffers: gathering
    every pair's two rows at once took 400 MB of fresh memory at 200,000 pairs of 128-d, whose page faults were
    most of this step's time on our VMs."""
    d = np.empty(len(i), np.result_type(f.dtype, np.float32))
    a, b = (np.empty((min(chunk, len(i)), f.shape[1]), f.dtype) for _ in range(2))
    for lo in range(0, len(i), chunk):
        k = min(chunk, len(i) - lo)
        np.take(f, i[lo:lo + k], axis=0, out=a[:k])
        np.take(f, j[lo:lo + k], axis=0, out=b[:k])
        d[lo:lo + k] = 1.0 - np.einsum("ij,ij->i", a[:k], b[:k])
    return d


def distance_stats(features: np.ndarray, identities, *, max_pairs: int = 50000, seed: int = 0) -> dict:
    """Histograms and moments of intra- and inter-identity cosine distances, with their separation d'."""
    from facebench.evaluate.scorers import labelled_pairs

    f = unit_rows(features)
    i, j, same = labelled_pairs(identities, max_pairs, np.random.default_rng(seed))
    d = pair_distances(f, i, j)
    intra, inter = d[same], d[~same]
    pooled = np.sqrt((intra.var() + inter.var()) / 2)
    return {"bins": BINS.tolist(), "intra": _population(intra), "inter": _population(inter),
            # d' (decidability, Daugman): how many pooled standard deviations apart the two means are
            "d_prime": float((inter.mean() - intra.mean()) / pooled) if pooled > 0 else None,
            # the share of different-identity pairs closer than the median same-identity pair
            "inter_below_intra_median": float((inter < np.median(intra)).mean())}


def embedding_stats(emb: dict[str, np.ndarray], paths: list[str], identities: list[str], *, threshold: float,
                    seed: int = 0, max_pairs: int = 50000, cluster_max_images: int | None = None) -> dict:
    """Distances and clustering of the embedded ``paths`` (failed faces dropped and counted)."""
    from facebench.analysis.clustering import MAX_IMAGES, cluster_embeddings
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
            "clustering": cluster_embeddings(f, ids, threshold=threshold, seed=seed,
                                             max_images=cluster_max_images or MAX_IMAGES)}
