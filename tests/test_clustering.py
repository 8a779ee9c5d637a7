"""Clustering metrics on separable blobs: every method finds the identities; on noise it does not."""
from __future__ import annotations

import numpy as np
from facebench.analysis.clustering import cluster_embeddings


def blobs(n_ids=8, per_id=10, dim=32, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    ids = np.repeat(np.arange(n_ids), per_id)
    return centres[ids] + spread * rng.normal(size=(len(ids), dim)), ids


def test_separable_identities_are_recovered_by_every_method():
    f, ids = blobs()
    out = cluster_embeddings(f, ids, threshold=0.5, seed=0)
    for method in ("kmeans-oracle", "kmeans-silhouette", "agglomerative"):
        assert out[method]["n_clusters"] == 8, method
        assert out[method]["nmi"] > 0.99 and out[method]["ari"] > 0.99, method
    assert out["images"] == 80 and out["identities"] == 8


def test_random_labels_score_near_zero():
    f, _ = blobs()
    rng = np.random.default_rng(1)
    out = cluster_embeddings(f, rng.integers(0, 8, len(f)), threshold=0.5, seed=0)
    assert out["kmeans-oracle"]["ari"] < 0.1


def test_a_strict_threshold_splits_identities():
    f, ids = blobs(spread=0.3)
    loose = cluster_embeddings(f, ids, threshold=0.3, seed=0)["agglomerative"]["n_clusters"]
    strict = cluster_embeddings(f, ids, threshold=0.999, seed=0)["agglomerative"]["n_clusters"]
    assert strict > loose
