"""Closed-set rank-N against brute force."""
from __future__ import annotations

import numpy as np
import pytest
from facebench.evaluate.identification import rank_n


def brute_rank1(f, ids):
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    return float(np.mean(np.asarray(ids)[sim.argmax(1)] == np.asarray(ids)))


@pytest.mark.parametrize("block", [7, 1024])
def test_rank1_matches_brute_force(block):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(15, 16))
    ids = np.repeat(np.arange(15), 4)
    f = centers[ids] + rng.normal(scale=0.9, size=(60, 16))
    out = rank_n(f, [f"id{i}" for i in ids], ranks=(1, 5), block=block)
    assert out["rank1"] == pytest.approx(brute_rank1(f, ids))
    assert out["rank1"] <= out["rank5"] <= 1.0
    assert out["n_probes"] == 60 and out["n_identities"] == 15


def test_identity_with_one_image_is_refused():
    with pytest.raises(ValueError, match="at least two images"):
        rank_n(np.eye(3), ["a", "a", "b"])


def test_all_pairs_auc_counts_every_pair_once_and_matches_sklearn_over_the_full_matrix():
    from facebench.evaluate.identification import all_pairs_auc
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 8, 50)
    f = rng.normal(size=(8, 6))[ids] + 0.8 * rng.normal(size=(50, 6))
    out = all_pairs_auc(f, ids, block_entries=7 * 50)  # blocks of 7 rows: they do not divide n
    u = f / np.linalg.norm(f, axis=1, keepdims=True)
    i, j = np.triu_indices(50, k=1)
    assert out["all_pairs"] == 50 * 49 // 2 and out["all_pairs_positive"] == int((ids[i] == ids[j]).sum())
    assert out["auc_all_pairs"] == pytest.approx(roc_auc_score(ids[i] == ids[j], np.sum(u[i] * u[j], axis=1)))
    assert out["auc_all_pairs"] > 0.8


@pytest.mark.parametrize("block_entries", [1, 97, 1 << 20])
def test_all_pairs_auc_counts_ties_as_half_as_sklearn_does_whatever_the_block(block_entries):
    from facebench.evaluate.identification import all_pairs_auc
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    ids = rng.integers(0, 5, 40)
    f = np.eye(3)[rng.integers(0, 3, 40)]  # one of three directions: scores are 0 or 1, nearly all tied
    out = all_pairs_auc(f, ids, block_entries=block_entries)
    i, j = np.triu_indices(40, k=1)
    want = roc_auc_score(ids[i] == ids[j], (f[i] * f[j]).sum(axis=1))
    assert out["auc_all_pairs"] == pytest.approx(want, abs=1e-12)


def test_the_bucketed_win_counts_equal_a_brute_force_count_at_bucket_edges_ties_and_the_ends():
    """_win_counts looks most negatives up by value bucket: on values at and around bucket edges, ties with
    positives, both zeros, +-1 and beyond (rounding of unit rows), each count equals #above + #tied / 2."""
    from facebench.evaluate.identification import BUCKETS, _Ranked, _win_counts

    rng = np.random.default_rng(3)
    step = 2.0 / BUCKETS
    edges = np.float32(-1 + step * rng.integers(0, BUCKETS, 200))
    around = np.concatenate([edges, np.nextafter(edges, np.float32(2)), np.nextafter(edges, np.float32(-2))])
    special = np.float32([-1.0000001, -1.0, -0.0, 0.0, 1e-30, 1.0, 1.0000001])
    pos = np.sort(np.concatenate([around[::3], special[1:4], rng.uniform(-1, 1, 500).astype(np.float32)]))
    neg = np.concatenate([around, special, pos[::7], rng.uniform(-1, 1, 2000).astype(np.float32)])
    want = (pos[None, :] > neg[:, None]).sum(1) + 0.5 * (pos[None, :] == neg[:, None]).sum(1)
    assert np.array_equal(_win_counts(_Ranked(pos), neg), want)


def test_all_pairs_auc_without_a_same_identity_pair_is_refused():
    from facebench.evaluate.identification import all_pairs_auc

    with pytest.raises(ValueError, match="same- and different-identity pairs: 0 and 3"):
        all_pairs_auc(np.eye(3), ["a", "b", "c"])


def overlapping(n, n_ids, dim, seed):
    """Identities around random centres with per-image strength: the same- and different-identity scores overlap."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_ids, n)
    centres = rng.normal(size=(n_ids, dim))
    w = rng.uniform(0.05, 0.6, size=(n, 1))
    return w * centres[ids] / np.sqrt(dim) + np.sqrt(1 - w ** 2) * rng.normal(size=(n, dim)) / np.sqrt(dim), ids


def test_rank_n_is_the_same_whatever_the_similarity_block():
    f, ids = overlapping(300, 40, 16, 2)
    keep = np.isin(ids, np.flatnonzero(np.bincount(ids) >= 2))
    whole = rank_n(f[keep], ids[keep])
    for entries in (1, 5 * 300, 10 ** 9):  # one probe per block, a few, all at once
        assert rank_n(f[keep], ids[keep], block_entries=entries) == whole
    assert 0.05 < whole["rank1"] < 0.95  # a problem where the blocks could disagree


def test_below_the_exact_limit_the_all_pairs_auc_is_exact_and_says_so():
    from facebench.evaluate.identification import all_pairs_auc
    from sklearn.metrics import roc_auc_score

    f, ids = overlapping(200, 30, 8, 3)
    n_pairs = 200 * 199 // 2
    out = all_pairs_auc(f, ids, exact_pairs=n_pairs)  # exactly at the limit: still exact
    i, j = np.triu_indices(200, k=1)
    u = (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)
    assert out["auc_all_pairs_method"] == "exact" and "auc_all_pairs_sample" not in out
    assert out["auc_all_pairs"] == pytest.approx(roc_auc_score(ids[i] == ids[j], np.sum(u[i] * u[j], axis=1)),
                                                 abs=1e-6)
    assert all_pairs_auc(f, ids, exact_pairs=n_pairs - 1)["auc_all_pairs_method"] == "sampled"


def test_the_sampled_all_pairs_auc_agrees_with_the_exact_one_within_its_standard_error():
    from facebench.evaluate.identification import all_pairs_auc

    f, ids = overlapping(2000, 200, 32, 4)  # 2 million pairs
    exact = all_pairs_auc(f, ids)
    assert 0.6 < exact["auc_all_pairs"] < 0.95  # neither trivial nor chance: a wrong estimator would show
    est = all_pairs_auc(f, ids, exact_pairs=10 ** 6, sample_negatives=200_000, seed=7)
    sample = est["auc_all_pairs_sample"]
    assert est["auc_all_pairs_method"] == "sampled"
    assert sample["negatives"] == 200_000 and sample["seed"] == 7 and sample["exact_above_pairs"] == 10 ** 6
    assert sample["positives"] == exact["all_pairs_positive"]
    assert sample["of_negatives"] == exact["all_pairs"] - exact["all_pairs_positive"]
    assert 0 < sample["standard_error"] < 2e-3
    assert abs(est["auc_all_pairs"] - exact["auc_all_pairs"]) < 4 * sample["standard_error"]
    again = all_pairs_auc(f, ids, exact_pairs=10 ** 6, sample_negatives=200_000, seed=7)
    assert again == est  # seeded: the same inputs give the same estimate
    other = all_pairs_auc(f, ids, exact_pairs=10 ** 6, sample_negatives=200_000, seed=8)
    assert other["auc_all_pairs"] != est["auc_all_pairs"]


def test_the_all_pairs_auc_limits_default_to_the_config_schema():
    from facebench import schema
    from facebench.evaluate import identification

    assert identification.EXACT_PAIRS == schema.default("identification.auc_exact_pairs")
    assert identification.SAMPLE_NEGATIVES == schema.default("identification.auc_sample_negatives")
