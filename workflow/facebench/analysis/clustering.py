"""Clustering of test embeddings (the cross-age seed's bonus): how many groups are found, and how well they match
the identities (NMI and ARI, scikit-learn).

- ``kmeans-oracle``: K-means told the true number of identities (an upper bound on what K-means can do).
- ``kmeans-silhouette``: K-means with the number of clusters chosen by the best cosine silhouette over a grid.
- ``agglomerative``: average-linkage agglomerative clustering on cosine distance, cut at 1 - the verification
  threshold (two faces closer than the threshold are "the same person"), so the number of clusters is found.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows


def _scores(identities, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"n_clusters": int(len(np.unique(labels))), "nmi": float(normalized_mutual_info_score(identities, labels)),
            "ari": float(adjusted_rand_score(identities, labels))}


def cluster_embeddings(features: np.ndarray, identities, *, threshold: float, seed: int = 0,
                       k_grid: list[int] | None = None) -> dict:
    """Every method's clusters scored against the identities; ``threshold`` is a cosine similarity."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.metrics import silhouette_score

    f = unit_rows(features)
    ids = np.asarray(identities)
    n_ids = len(np.unique(ids))
    out = {"images": int(len(f)), "identities": int(n_ids), "seed": seed, "threshold": float(threshold)}
    km = KMeans(n_clusters=n_ids, n_init=4, random_state=seed).fit(f)
    out["kmeans-oracle"] = _scores(ids, km.labels_)
    grid = k_grid or sorted({max(2, int(round(n_ids * r))) for r in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)})
    grid = [k for k in grid if 2 <= k < len(f)]
    silhouettes = {}
    best = None
    for k in grid:
        labels = KMeans(n_clusters=k, n_init=2, random_state=seed).fit_predict(f)
        silhouettes[k] = float(silhouette_score(f, labels, metric="cosine"))
        if best is None or silhouettes[k] > silhouettes[best[0]]:
            best = (k, labels)
    out["kmeans-silhouette"] = {**_scores(ids, best[1]), "silhouette": silhouettes}
    agg = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                  distance_threshold=1.0 - threshold).fit(f)
    out["agglomerative"] = _scores(ids, agg.labels_)
    return out
