"""Clustering of test embeddings (the cross-age seed's bonus): how many groups are found, and how well they match
the identities (NMI and ARI, scikit-learn).

- ``kmeans-oracle``: K-means told the true number of identities (an upper bound on what K-means can do).
- ``kmeans-silhouette``: K-means with the number of clusters chosen by the best cosine silhouette over a grid of
  ratios to the number of identities.
- ``agglomerative``: average-linkage agglomerative clustering on cosine distance, cut at 1 - the verification
  threshold (two faces closer than the threshold are "the same person"), so the number of clusters is found.

At LFW size (9,164 images of 1,680 people) the cost is K-means with about as many clusters as people, over the
grid, on every image, in float64: on float32 features scikit-learn's k-means++ seeding upcasts its distance chunks to
float64, and the clustering of LFW's embeddings took 91 s instead of about 45 s (profiled 2026-12-02).
The grid is not searched on a sample of people: a sample is less crowded than the whole, its silhouettes favour
other k, and in a weakly separated test it chose k = 1.5x the identities where every image chose 0.25x.

Average linkage and the silhouette hold all n^2 / 2 distances: above ``max_images`` images (analysis.
cluster_max_images, 15,000: about 2.5 GB at the cap; LFW's 9,164 are all taken) every method runs on the images of a
seeded sample of whole identities, which the output states (``sample``).
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

RATIOS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # k / number of identities, the silhouette grid
ORACLE_N_INIT, SEARCH_N_INIT = 4, 2  # k-means++ starts of the oracle fit and of each grid fit
MAX_IMAGES = 15000  # analysis.cluster_max_images


def identity_sample(codes: np.ndarray, max_images: int, seed: int) -> np.ndarray:
    """Rows of whole identities, drawn in a seeded order until the next would pass ``max_images`` (all if they fit)."""
    if len(codes) <= max_images:
        return np.arange(len(codes))
    counts = np.bincount(codes)
    order = np.random.default_rng([seed, 15]).permutation(len(counts))
    keep = order[np.cumsum(counts[order]) <= max_images]
    return np.flatnonzero(np.isin(codes, keep))


def _scores(identities, labels) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"n_clusters": int(len(np.unique(labels))), "nmi": float(normalized_mutual_info_score(identities, labels)),
            "ari": float(adjusted_rand_score(identities, labels))}


def _kmeans(f: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(f)


def _k_of(ratio: float, n_ids: int) -> int:
    return max(2, int(round(n_ids * ratio)))


def search_k(f: np.ndarray, n_ids: int, *, seed: int, ratios=RATIOS) -> tuple[dict, np.ndarray]:
    """The k = ratio x identities of the best cosine silhouette over the grid, and its labels, on every image."""
    from sklearn.metrics import silhouette_score

    silhouettes, best = {}, None
    for r in ratios:
        k = _k_of(r, n_ids)
        if 2 <= k < len(f) and str(k) not in silhouettes:
            labels = _kmeans(f, k, seed, SEARCH_N_INIT)
            silhouettes[str(k)] = float(silhouette_score(f, labels, metric="cosine"))
            if best is None or silhouettes[str(k)] > silhouettes[str(best[0])]:  # the first of equal bests
                best = (k, labels)
    if best is None:
        raise ValueError(f"no k of the silhouette grid fits {len(f)} images of {n_ids} identities")
    return {"k": int(best[0]), "ratios": list(ratios), "n_init": SEARCH_N_INIT, "silhouette": silhouettes}, best[1]


def average_linkage_labels(f: np.ndarray, cut: float) -> np.ndarray:
    """Average-linkage clusters of unit rows at cosine distance ``cut`` (as sklearn's AgglomerativeClustering with
    metric="cosine", distance_threshold=cut): the distances come from one BLAS product, where sklearn would hand
    scipy the features and scipy's pdist computes the 42 million cosine distances of LFW one pair at a time."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(f) < 2:
        return np.zeros(len(f), dtype=np.int64)
    f = f.astype(np.float32)  # half the memory of float64; linkage takes the condensed distances as float64
    d = 1.0 - f @ f.T
    np.clip(d, 0.0, 2.0, out=d)
    np.fill_diagonal(d, 0.0)
    condensed = squareform(d, checks=False)
    del d
    z = linkage(condensed, method="average")
    # sklearn cuts where a merge distance reaches the threshold: merges strictly below it are kept
    n_clusters = int((z[:, 2] >= cut).sum()) + 1
    return fcluster(z, n_clusters, criterion="maxclust")


def cluster_embeddings(features: np.ndarray, identities, *, threshold: float, seed: int = 0,
                       max_images: int = MAX_IMAGES) -> dict:
    """Every method's clusters scored against the identities; ``threshold`` is a cosine similarity."""
    ids = np.asarray(identities)
    _, codes = np.unique(ids, return_inverse=True)
    rows = identity_sample(codes, max_images, seed)
    f, ids = unit_rows(features[rows]), ids[rows]
    n_ids = len(np.unique(ids))
    out = {"images": int(len(f)), "identities": n_ids, "seed": seed, "threshold": float(threshold),
           "kmeans": {"init": "k-means++", "dtype": "float64", "oracle_n_init": ORACLE_N_INIT}}
    if len(rows) < len(codes):
        out["sample"] = {"of_images": int(len(codes)), "of_identities": int(codes.max()) + 1,
                         "max_images": int(max_images), "seed": [seed, 15], "unit": "whole identities"}
    out["kmeans-oracle"] = _scores(ids, _kmeans(f, n_ids, seed, ORACLE_N_INIT))
    search, labels = search_k(f, n_ids, seed=seed)
    out["kmeans-silhouette"] = {**_scores(ids, labels), **search}
    out["agglomerative"] = {**_scores(ids, average_linkage_labels(f, 1.0 - threshold)), "linkage": "average"}
    return out
