"""Clustering of test embeddings (the cross-age seed's bonus): how many groups are found, and how well they match
the identities (NMI and ARI, scikit-learn).

- ``kmeans-oracle``: K-means told the true number of identities (an upper bound on what K-means can do).
- ``kmeans-silhouette``: K-means with the number of clusters chosen by the best cosine silhouette over a grid of
  ratios to the number of identities.
- ``agglomerative``: average-linkage agglomerative clustering on cosine distance, cut at 1 - the verification
  threshold (two faces closer than the threshold are "the same person"), so the number of clusters is found.

At LFW size (9,164 images of 1,680 people) the cost is K-means with about as many clusters as people, over the
grid, on every image. These choices cut it (issue 22); the method stays k-means++ and Lloyd: every k of the grid
starts from the first k centres of one k-means++ seeding of the largest k per start (kmeans_starts: the prefix of a
k-means++ seeding is a k-means++ seeding), so the sequential seeding runs once per start instead of once per k; the
oracle's k is the grid's ratio 1, one fit for both; every fit has one start (N_INIT), where the oracle had 4 and the
grid 2; Lloyd's iterations run on float32 features; and the seeding, the silhouettes and the average linkage share
one cosine distance matrix (the seeding reads a candidate's distances from it instead of recomputing them from every
feature).
The grid is not searched on a sample of people: a sample is less crowded than the whole, its silhouettes favour
other k, and in a weakly separated test it chose k = 1.5x the identities where every image chose 0.25x.

Average linkage and the silhouette hold all n^2 / 2 distances: above ``max_images`` images (analysis.
cluster_max_images, 15,000: about 1.8 GB at the cap; LFW's 9,164 are all taken) every method runs on the images of a
seeded sample of whole identities, which the output states (``sample``).
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import unit_rows

RATIOS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # k / number of identities, the silhouette grid
# k-means++ starts of every K-means fit: one, scikit-learn's own default for k-means++ (n_init="auto"); two cost half
# the rule's time at LFW size and moved the oracle's NMI by 0.001 (bench/analysis_time.py, 2026-12-03)
N_INIT = 1
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


def kmeans_starts(distances: np.ndarray, k_max: int, seed: int, n: int, trials: int | None = None) -> list[np.ndarray]:
    """``n`` greedy k-means++ seedings of ``k_max`` centres (Arthur & Vassilvitskii 2007, with ``trials`` candidates
    per centre, by default 2 + ln k_max as scikit-learn's, the one that lowers the potential most kept), as row
    indices of the images.

    The images are unit rows, so a squared Euclidean distance is twice the cosine distance: every candidate's
    distances are one row of ``distances``, the matrix the silhouettes and the linkage use. scikit-learn's
    kmeans_plusplus takes features only and recomputes them from every feature for every candidate: that pass, 2,520
    times per start at LFW size, was most of the rule's time (issue 22). k-means++ picks each centre from the ones
    before, so the first k of a seeding are a k-means++ seeding of k: one seeding serves every k of the grid."""
    m = len(distances)
    trials = trials or 2 + int(np.log(k_max))  # fixed for every prefix
    seedings = []
    for start in range(n):
        rng = np.random.default_rng([seed, 16, start])
        chosen = np.empty(k_max, dtype=np.int64)
        chosen[0] = rng.integers(m)
        closest = distances[chosen[0]].astype(np.float64)  # each image's distance to its nearest centre so far
        for c in range(1, k_max):
            # D^2 sampling: candidates drawn with probability proportional to that distance
            draws = rng.uniform(size=trials) * closest.sum()
            candidates = np.minimum(np.searchsorted(np.cumsum(closest), draws), m - 1)
            after = np.minimum(closest, distances[candidates])
            best = int(np.argmin(after.sum(axis=1)))  # the first of equal potentials
            chosen[c], closest = candidates[best], after[best]
        seedings.append(chosen)
    return seedings


def lloyd(f32: np.ndarray, starts: list[np.ndarray], k: int) -> np.ndarray:
    """K-means (Lloyd) from the images of the first ``k`` centres of each start (kmeans_starts) on float32 features:
    the labels of the lowest inertia, as KMeans(n_init=len(starts)) keeps."""
    from sklearn.cluster import KMeans

    fits = [KMeans(n_clusters=k, init=f32[s[:k]], n_init=1).fit(f32) for s in starts]
    best = min(range(len(fits)), key=lambda i: fits[i].inertia_)  # the first of equal inertias
    return fits[best].labels_


def _k_of(ratio: float, n_ids: int) -> int:
    return max(2, int(round(n_ids * ratio)))


def grid_ks(n_images: int, n_ids: int, ratios=RATIOS) -> list[int]:
    ks = []
    for r in ratios:
        k = _k_of(r, n_ids)
        if 2 <= k < n_images and k not in ks:
            ks.append(k)
    if not ks:
        raise ValueError(f"no k of the silhouette grid fits {n_images} images of {n_ids} identities")
    return ks


def search_k(f32: np.ndarray, n_ids: int, starts: list[np.ndarray], distances: np.ndarray, *,
             ratios=RATIOS) -> tuple[dict, dict[int, np.ndarray]]:
    """The k = ratio x identities of the best cosine silhouette over the grid, on every image, and the labels of
    every k; ``distances`` is the images' cosine distance matrix, computed once for every k."""
    from sklearn.metrics import silhouette_score

    silhouettes, labels, best = {}, {}, None
    for k in grid_ks(len(f32), n_ids, ratios):
        labels[k] = lloyd(f32, starts, k)
        silhouettes[str(k)] = float(silhouette_score(distances, labels[k], metric="precomputed"))
        if best is None or silhouettes[str(k)] > silhouettes[str(best)]:  # the first of equal bests
            best = k
    return {"k": int(best), "ratios": list(ratios), "n_init": len(starts), "silhouette": silhouettes}, labels


def cosine_distances(f: np.ndarray) -> np.ndarray:
    """n x n cosine distances of unit rows from one float32 BLAS product, zero diagonal (what silhouette_score's
    "precomputed" checks), clipped to [0, 2] against rounding."""
    f = f.astype(np.float32)  # half the memory of float64
    d = f @ f.T
    np.subtract(1.0, d, out=d)  # in place: one n x n matrix at a time
    np.clip(d, 0.0, 2.0, out=d)
    np.fill_diagonal(d, 0.0)
    return d


def condensed_distances(distances: np.ndarray) -> np.ndarray:
    """The upper triangle of a square distance matrix as scipy's linkage takes it (float64, n(n-1)/2 entries, row
    by row as scipy's squareform orders it). Filled row by row: squareform of the float32 matrix and a cast would
    hold a third copy at once."""
    n = len(distances)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    start = 0
    for i in range(n - 1):
        out[start:start + n - 1 - i] = distances[i, i + 1:]
        start += n - 1 - i
    return out


def average_linkage_labels(condensed: np.ndarray, n: int, cut: float) -> np.ndarray:
    """Average-linkage clusters at cosine distance ``cut`` of ``n`` images from their condensed cosine distances (as
    sklearn's AgglomerativeClustering with metric="cosine", distance_threshold=cut): the distances come from one BLAS
    product (cosine_distances), where sklearn would hand scipy the features and scipy's pdist computes the 42 million
    cosine distances of LFW one pair at a time."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if n < 2:
        return np.zeros(n, dtype=np.int64)
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
           "kmeans": {"init": "k-means++", "seeding": "one per start at the largest k, its first k centres for each k",
                      "dtype": "float32", "n_init": N_INIT}}
    if len(rows) < len(codes):
        out["sample"] = {"of_images": int(len(codes)), "of_identities": int(codes.max()) + 1,
                         "max_images": int(max_images), "seed": [seed, 15], "unit": "whole identities"}
    distances = cosine_distances(f)
    starts = kmeans_starts(distances, max(grid_ks(len(f), n_ids) + [n_ids]), seed, N_INIT)
    f32 = f.astype(np.float32)
    search, labels = search_k(f32, n_ids, starts, distances)
    oracle = labels[n_ids] if n_ids in labels else lloyd(f32, starts, n_ids)
    out["kmeans-oracle"] = _scores(ids, oracle)
    out["kmeans-silhouette"] = {**_scores(ids, labels[search["k"]]), **search}
    condensed = condensed_distances(distances)
    # the square matrix goes before the linkage, which copies the condensed one: the peak is 8 n^2 bytes (square
    # float32 + condensed float64, then two condensed), where it was 12 n^2 (profiled at 8,000 images)
    del distances
    agglomerative = average_linkage_labels(condensed, len(f), 1.0 - threshold)
    out["agglomerative"] = {**_scores(ids, agglomerative), "linkage": "average"}
    return out
