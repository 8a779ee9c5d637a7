"""Verification scorers: each separates same from different people on synthetic identities, learned ones are fitted
only on identities outside the scored fold, and Joint Bayesian's EM recovers the covariances it was sampled from."""
from __future__ import annotations

import numpy as np
import pytest
from facebench.evaluate import scorers
from sklearn.metrics import roc_auc_score


def identities(n_ids=40, per_id=6, dim=16, spread=0.35, seed=0):
    """Unit-ish embeddings: an identity centre plus within-person noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    ids = np.repeat(np.arange(n_ids), per_id)
    feats = centres[ids] + spread * rng.normal(size=(len(ids), dim))
    return feats, np.array([f"p{i:03d}" for i in ids])


def test_labelled_pairs_are_balanced_and_correctly_labelled():
    _, ids = identities()
    i, j, same = scorers.labelled_pairs(ids, 200, np.random.default_rng(1))
    assert same.sum() == (~same).sum() == 200
    assert np.all((ids[i] == ids[j]) == same) and np.all(i[same] != j[same])


def test_labelled_pairs_need_an_identity_with_two_images():
    with pytest.raises(ValueError, match="two or more images"):
        scorers.labelled_pairs(np.array(["a", "b", "c"]), 10, np.random.default_rng(0))


@pytest.mark.parametrize("name", scorers.SCORERS)
def test_every_scorer_separates_same_from_different(name):
    feats, ids = identities()
    train = np.char.compare_chararrays(ids, "p020", "<", True)
    rng = np.random.default_rng(3)
    s = scorers.build(name).fit(feats[train], ids[train], rng)
    i, j, same = scorers.labelled_pairs(ids[~train], 300, rng)
    test = np.flatnonzero(~train)
    auc = roc_auc_score(same, s.score(feats[test][i], feats[test][j]))
    assert auc > 0.9, f"{name}: AUC {auc:.3f} on separable identities"


def test_euclidean_on_unit_features_ranks_pairs_as_cosine_does():
    feats, _ = identities()
    a, b = feats[:50], feats[50:100]
    c, e = scorers.build("cosine").score(a, b), scorers.build("euclidean").score(a, b)
    assert np.array_equal(np.argsort(c), np.argsort(e))


def test_unknown_scorer_is_named():
    with pytest.raises(ValueError, match="unknown scorer 'l3'"):
        scorers.build("l3")


def test_the_library_default_of_training_pairs_is_the_configs():
    from facebench import schema

    assert scorers.TRAINING_PAIRS == schema.default("analysis.scorer_training_pairs")


def test_joint_bayesian_em_recovers_the_generating_covariances():
    rng = np.random.default_rng(0)
    d, n_ids, per_id = 4, 3000, 5
    s_mu, s_eps = np.diag([4.0, 2.0, 1.0, 0.5]), np.diag([0.5, 0.5, 1.0, 0.25])
    mu = rng.multivariate_normal(np.zeros(d), s_mu, n_ids)
    codes = np.repeat(np.arange(n_ids), per_id)
    x = mu[codes] + rng.multivariate_normal(np.zeros(d), s_eps, len(codes))
    est_mu, est_eps, _ = scorers._joint_bayesian_em(x - x.mean(0), codes, 100, 1e-8)
    assert np.allclose(est_mu, s_mu, atol=0.25) and np.allclose(est_eps, s_eps, atol=0.05)


def test_joint_bayesian_em_is_the_textbook_em_step_for_step():
    # the oracle: each class's posterior by plain inversion, each image's residual summed one by one
    rng = np.random.default_rng(1)
    d, sizes = 6, rng.integers(2, 9, 80)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    a = rng.normal(size=(d, d))
    x = rng.normal(size=(len(sizes), d))[codes] * 2 + rng.normal(size=(len(codes), d)) @ a
    x -= x.mean(0)
    steps = 4
    ours_mu, ours_eps, done = scorers._joint_bayesian_em(x, codes, steps, 0.0)
    assert done == steps

    means = np.stack([x[codes == c].mean(0) for c in range(len(sizes))])
    ridge = 1e-6 * np.eye(d)
    s_mu = np.cov(means, rowvar=False, bias=True) + ridge
    s_eps = np.cov(x - means[codes], rowvar=False, bias=True) + ridge
    for _ in range(steps):
        mu, post = np.zeros((len(sizes), d)), np.zeros((len(sizes), d, d))
        for c, m in enumerate(sizes):
            post[c] = np.linalg.inv(np.linalg.inv(s_mu) + m * np.linalg.inv(s_eps))
            mu[c] = post[c] @ np.linalg.inv(s_eps) @ x[codes == c].sum(0)
        eps = x - mu[codes]
        new_mu = (mu.T @ mu + post.sum(0)) / len(sizes) + ridge
        new_eps = (eps.T @ eps + (post * sizes[:, None, None]).sum(0)) / len(x) + ridge
        s_mu, s_eps = (new_mu + new_mu.T) / 2, (new_eps + new_eps.T) / 2
    assert np.allclose(ours_mu, s_mu, rtol=1e-8, atol=1e-10) and np.allclose(ours_eps, s_eps, rtol=1e-8, atol=1e-10)


def test_joint_bayesian_ratio_prefers_the_same_person():
    """The log-likelihood ratio is higher for two draws of one identity than for two identities (on average)."""
    feats, ids = identities(n_ids=60, dim=12)
    jb = scorers.build("joint-bayesian").fit(feats, ids, np.random.default_rng(0))
    same = jb.score(feats[0::6], feats[1::6])
    diff = jb.score(feats[0::6], np.roll(feats[1::6], 1, axis=0))
    assert same.mean() > diff.mean() and np.mean(same > np.median(diff)) > 0.9


def test_fold_scores_never_fit_on_an_identity_of_the_scored_fold(monkeypatch):
    feats, ids = identities(n_ids=30, per_id=4)
    # 3 folds of pairs, each over its own 10 identities
    i1 = np.arange(0, 120, 2)
    i2 = i1 + 1
    folds = (np.arange(len(i1)) * 3) // len(i1)
    seen = []
    real_fit = scorers.WeightedL1.fit

    def spy(self, f, fit_ids, rng, n_pairs=20000):
        seen.append(set(fit_ids))
        return real_fit(self, f, fit_ids, rng, n_pairs)

    monkeypatch.setattr(scorers.WeightedL1, "fit", spy)
    scores, records = scorers.fold_scores(feats, ids, i1, i2, folds, "weighted-l1", seed=0)
    assert len(seen) == 3 and len(records) == 3 and np.isfinite(scores).all()
    for fold, fitted in enumerate(seen):
        scored = set(ids[i1[folds == fold]]) | set(ids[i2[folds == fold]])
        assert fitted and not fitted & scored
        assert records[fold]["held_out_identities"] == len(scored)


def test_fold_scores_are_reproducible_for_a_seed():
    feats, ids = identities(n_ids=30, per_id=4)
    i1, folds = np.arange(0, 120, 2), np.repeat([0, 1, 2], 20)
    a, _ = scorers.fold_scores(feats, ids, i1, i1 + 1, folds, "chi2-svm", seed=5)
    b, _ = scorers.fold_scores(feats, ids, i1, i1 + 1, folds, "chi2-svm", seed=5)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("scorer", ["chi2-svm", "weighted-l1", "joint-bayesian"])
def test_folds_fitted_in_threads_give_the_scores_and_records_of_one_by_one(scorer):
    # a fold whose fit or scores landed under another fold's pairs would show here: the folds differ in people
    feats, ids = identities(n_ids=40, per_id=4)
    i1, folds = np.arange(0, 160, 2), np.repeat([0, 1, 2, 3], 20)
    serial, rec_serial = scorers.fold_scores(feats, ids, i1, i1 + 1, folds, scorer, seed=3, n_pairs=200)
    threaded, rec_threaded = scorers.fold_scores(feats, ids, i1, i1 + 1, folds, scorer, seed=3, n_pairs=200,
                                                 threads=3)
    np.testing.assert_allclose(threaded, serial, rtol=1e-9, atol=1e-12)  # BLAS thread count may move the last bits
    assert rec_threaded == rec_serial and [r["fold"] for r in rec_threaded] == [0, 1, 2, 3]


def test_chi2_pair_vector_is_deepfaces_weighted_chi2_of_min_max_scaled_features():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(50, 6)).astype(np.float32)
    train[:, 5] = 0.25  # a constant dimension: span 1, not a division by zero
    s = scorers.build("chi2-svm")
    s.prepare(train)
    a, b = 2 * rng.normal(size=(20, 6)).astype(np.float32), rng.normal(size=(20, 6)).astype(np.float32)
    lo, hi = train.min(axis=0).astype(np.float64), train.max(axis=0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    u = np.clip((a - lo) / span, 0, 1)  # test values outside the training range clip to it
    v = np.clip((b - lo) / span, 0, 1)
    a0, b0 = a.copy(), b.copy()
    tu, tv = s.transform(a), s.transform(b)
    got = s.pair_vector(tu, tv)
    np.testing.assert_allclose(got, (u - v) ** 2 / (u + v + 1e-6), rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    assert np.array_equal(a, a0) and np.array_equal(b, b0)  # computed in place, but never in the caller's arrays


def test_pair_vectors_from_rows_transformed_once_are_those_of_each_pair_transformed():
    """The learned pair classifiers transform each image once and index the rows: the same bits as transforming
    the two images of every pair."""
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(30, 8)).astype(np.float32)
    i, j = rng.integers(0, 30, 100), rng.integers(0, 30, 100)
    for name in ("chi2-svm", "weighted-l1"):
        s = scorers.build(name)
        s.prepare(feats)
        t = s.transform(feats)
        assert np.array_equal(s.pair_vector(t[i], t[j]), s.pair_vector(s.transform(feats[i]), s.transform(feats[j])))
