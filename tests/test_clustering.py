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


def uneven(n_ids=120, dim=32, spread=0.6, seed=0):
    """Identities of 2 to 9 images (LFW's identification images are mostly small identities)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    ids = np.repeat(np.arange(n_ids), rng.integers(2, 10, n_ids))
    return centres[ids] + spread * rng.normal(size=(len(ids), dim)), ids


def test_average_linkage_matches_scikit_learns_cosine_agglomerative():
    from facebench.analysis.clustering import average_linkage_labels, condensed_distances, cosine_distances
    from facebench.evaluate.scores import unit_rows
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    f, _ = uneven(n_ids=40, spread=0.9)
    for cut in (0.3, 0.6, 0.9):
        ours = average_linkage_labels(condensed_distances(cosine_distances(unit_rows(f))), len(f), cut)
        theirs = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=cut).fit(f).labels_
        assert len(np.unique(ours)) == len(np.unique(theirs)) and adjusted_rand_score(ours, theirs) == 1.0


def test_the_k_means_fits_find_what_the_fits_of_before_found():
    # the search for k as before issue 22: scikit-learn's KMeans and cosine silhouette over the same grid
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score

    f, ids = uneven()
    ours = cluster_embeddings(f, ids, threshold=0.5, seed=0)
    u = f / np.linalg.norm(f, axis=1, keepdims=True)
    oracle = KMeans(n_clusters=120, n_init=4, random_state=0).fit_predict(u)
    assert abs(ours["kmeans-oracle"]["nmi"] - normalized_mutual_info_score(ids, oracle)) < 0.02
    before = {}
    for k in sorted({max(2, int(round(120 * r))) for r in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)}):
        before[str(k)] = silhouette_score(u, KMeans(n_clusters=k, n_init=2, random_state=0).fit_predict(u),
                                          metric="cosine")
    assert ours["kmeans-silhouette"]["k"] == int(max(before, key=before.get))
    assert set(ours["kmeans-silhouette"]["silhouette"]) == set(before)
    for k, s in before.items():
        assert abs(ours["kmeans-silhouette"]["silhouette"][k] - s) < 0.02, k


def test_above_the_cap_every_method_runs_on_a_stated_sample_of_whole_identities():
    from facebench.analysis.clustering import identity_sample

    f, ids = uneven()
    _, codes = np.unique(ids, return_inverse=True)
    rows = identity_sample(codes, 300, seed=1)
    kept = np.unique(codes[rows])
    assert len(rows) <= 300 and len(rows) == np.isin(codes, kept).sum()  # whole identities only
    assert 0 < len(kept) < len(np.unique(codes))
    assert np.array_equal(rows, identity_sample(codes, 300, seed=1))  # seeded
    assert np.array_equal(identity_sample(codes, len(codes), seed=1), np.arange(len(codes)))  # all fit: all

    out = cluster_embeddings(f, ids, threshold=0.5, seed=1, max_images=300)
    assert out["images"] == len(rows) and out["sample"]["of_images"] == len(f)
    direct = cluster_embeddings(f[rows], ids[rows], threshold=0.5, seed=1)
    assert "sample" not in direct
    assert {k: out[k] for k in ("kmeans-oracle", "kmeans-silhouette", "agglomerative")} == \
        {k: direct[k] for k in ("kmeans-oracle", "kmeans-silhouette", "agglomerative")}


def seeding_inputs(n_ids=30, seed=0):
    from facebench.analysis.clustering import cosine_distances
    from facebench.evaluate.scores import unit_rows

    f, ids = uneven(n_ids=n_ids, seed=seed)
    u = unit_rows(f)
    return u, ids, cosine_distances(u)


def test_the_first_k_centres_of_one_seeding_are_the_k_means_plus_plus_seeding_of_k():
    # why one seeding of the largest k serves the whole grid: k-means++ chooses each centre from the ones before it
    from facebench.analysis.clustering import kmeans_starts

    _, _, d = seeding_inputs()
    first, second = kmeans_starts(d, 40, seed=3, n=2)
    assert len(set(first.tolist())) == 40  # a centre is never drawn twice: its own distance is zero
    assert not np.array_equal(first, second)  # each start its own draws
    for k in (5, 12):
        assert np.array_equal(first[:k], kmeans_starts(d, k, seed=3, n=1, trials=2 + int(np.log(40)))[0])
    assert np.array_equal(first, kmeans_starts(d, 40, seed=3, n=2)[0])  # seeded


def test_seeding_from_the_distance_matrix_is_as_good_as_scikit_learns_kmeans_plusplus():
    # the same algorithm on the same points: the potential (sum of squared distances to the nearest centre) of its
    # seedings matches scikit-learn's on average over seeds, and separated identities get one centre each
    from facebench.analysis.clustering import kmeans_starts
    from sklearn.cluster import kmeans_plusplus

    u, ids, d = seeding_inputs(n_ids=60, seed=1)

    def potential(centres):
        return float((((u[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)).min(axis=1).sum())

    k = 60
    trials = 2 + int(np.log(k))
    ours = np.mean([potential(u[s]) for s in kmeans_starts(d, k, seed=0, n=8)])
    theirs = np.mean([potential(kmeans_plusplus(u, k, random_state=np.random.RandomState(r), n_local_trials=trials)[0])
                      for r in range(8)])
    assert abs(ours - theirs) < 0.05 * theirs
    uniform = np.mean([potential(u[np.random.default_rng(r).choice(len(u), k, replace=False)]) for r in range(8)])
    assert ours < 0.9 * uniform  # D^2 sampling does better than centres drawn uniformly

    f, blob_ids = blobs(n_ids=8, per_id=10, spread=0.05)
    from facebench.analysis.clustering import cosine_distances
    from facebench.evaluate.scores import unit_rows

    chosen = kmeans_starts(cosine_distances(unit_rows(f)), 8, seed=0, n=3)
    assert all(len(np.unique(blob_ids[c])) == 8 for c in chosen)


def test_condensed_distances_are_scipys_squareform_in_float64():
    from facebench.analysis.clustering import condensed_distances, cosine_distances
    from facebench.evaluate.scores import unit_rows
    from scipy.spatial.distance import squareform

    f, _ = uneven(n_ids=12, spread=0.7)
    d = cosine_distances(unit_rows(f))
    got = condensed_distances(d)
    assert got.dtype == np.float64 and np.array_equal(got, squareform(d, checks=False).astype(np.float64))
    assert len(condensed_distances(d[:1, :1])) == 0
