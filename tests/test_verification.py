"""The verification protocol: exact agreement with the seed's lfw_eval.py loops, brute force, and scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from facebench.evaluate import verification as V
from sklearn.metrics import roc_auc_score, roc_curve


# --- a literal re-implementation of sphereface_pytorch lfw_eval.py's protocol (the seed), loops and all ----------
def seed_kfold(n=6000, n_folds=10):
    folds = []
    base = list(range(n))
    for i in range(n_folds):
        test = base[i * n // n_folds:(i + 1) * n // n_folds]
        train = list(set(base) - set(test))
        folds.append([train, test])
    return folds


def seed_eval_acc(threshold, diff):
    y_true, y_predict = [], []
    for d in diff:
        same = 1 if float(d[2]) > threshold else 0
        y_predict.append(same)
        y_true.append(int(d[3]))
    y_true = np.array(y_true)
    y_predict = np.array(y_predict)
    return 1.0 * np.count_nonzero(y_true == y_predict) / len(y_true)


def seed_find_best_threshold(thresholds, predicts):
    best_threshold = best_acc = 0
    for threshold in thresholds:
        accuracy = seed_eval_acc(threshold, predicts)
        if accuracy >= best_acc:
            best_acc = accuracy
            best_threshold = threshold
    return best_threshold


def seed_protocol(scores, labels, n_folds=10):
    predicts = np.array([("a", "b", repr(float(s)), str(int(y))) for s, y in zip(scores, labels)], dtype=object)
    accuracy, thd = [], []
    thresholds = np.arange(-1.0, 1.0, 0.005)
    for train, test in seed_kfold(len(scores), n_folds):
        best = seed_find_best_threshold(thresholds, predicts[train])
        accuracy.append(seed_eval_acc(best, predicts[test]))
        thd.append(best)
    return np.mean(accuracy), np.std(accuracy), np.mean(thd), accuracy, thd


def random_scores(rng, n, on_grid=False):
    labels = np.r_[np.ones(n // 2), np.zeros(n - n // 2)].astype(int)
    rng.shuffle(labels)
    scores = np.clip(np.where(labels == 1, rng.normal(0.45, 0.2, n), rng.normal(0.1, 0.2, n)), -0.999, 0.999)
    if on_grid:  # put many scores exactly on grid thresholds and make ties: the hard cases of "> t" and ">="
        grid = np.arange(-1.0, 1.0, 0.005)
        pick = rng.random(n) < 0.5
        scores[pick] = grid[rng.integers(150, 320, pick.sum())]
    return scores, labels


@pytest.mark.parametrize("seed,n,on_grid", [(0, 600, False), (1, 600, True), (2, 1000, True), (3, 207, True)])
def test_grid_agrees_exactly_with_the_seed_loops(seed, n, on_grid):
    rng = np.random.default_rng(seed)
    scores, labels = random_scores(rng, n, on_grid)
    acc, std, thd, fold_acc, fold_thd = seed_protocol(scores, labels)
    res = V.kfold_accuracy(scores, labels, search="grid")
    assert res.fold_threshold == [float(t) for t in fold_thd]
    assert res.fold_accuracy == fold_acc
    assert res.accuracy == acc and res.std == std and res.threshold == thd


def test_contiguous_folds_are_the_seed_kfold():
    for n, k in [(6000, 10), (1003, 10), (7, 3)]:
        folds = V.contiguous_folds(n, k)
        for i, (_, test) in enumerate(seed_kfold(n, k)):
            assert np.flatnonzero(folds == i).tolist() == test


def brute_force_exact(scores, labels, folds):
    """Try every candidate threshold on the training folds one by one (ties -> largest), apply to the test fold."""
    accs = []
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        s, y = scores[tr], labels[tr].astype(bool)
        u = np.unique(s)
        cands = np.r_[np.nextafter(u[0], -np.inf), (u[:-1] + u[1:]) / 2, u[-1]]
        best_t, best_c = None, -1
        for t in cands:
            c = np.count_nonzero((s > t) == y)
            if c >= best_c:
                best_c, best_t = c, t
        accs.append(np.mean((scores[te] > best_t) == labels[te].astype(bool)))
    return float(np.mean(accs))


@pytest.mark.parametrize("seed", range(5))
def test_exact_search_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores, labels = random_scores(rng, 300, on_grid=seed % 2 == 0)
    scores = np.round(scores, 2)  # many ties
    folds = V.contiguous_folds(300, 10)
    assert V.kfold_accuracy(scores, labels, search="exact").accuracy == pytest.approx(
        brute_force_exact(scores, labels, folds), abs=1e-12)


def test_exact_is_never_worse_than_grid_on_the_training_folds():
    rng = np.random.default_rng(7)
    scores, labels = random_scores(rng, 2000)
    folds = V.contiguous_folds(2000, 10)
    grid = V.kfold_accuracy(scores, labels, search="grid").fold_threshold
    exact = V.kfold_accuracy(scores, labels, search="exact").fold_threshold
    for k in range(10):
        s, y = scores[folds != k], labels[folds != k].astype(bool)
        assert np.count_nonzero((s > exact[k]) == y) >= np.count_nonzero((s > grid[k]) == y)


@pytest.mark.parametrize("seed", range(6))
def test_exact_thresholds_match_a_direct_search_with_folds_in_any_order(seed):
    """Interleaved, unequal folds and heavy ties: the segmented search must pick the same thresholds."""
    rng = np.random.default_rng(100 + seed)
    n = 500
    scores, labels = random_scores(rng, n, on_grid=True)
    scores = np.round(scores, 1 + seed % 3)
    folds = rng.integers(0, 7, n)
    res = V.kfold_accuracy(scores, labels, folds=folds, search="exact")
    for k, t in zip(np.unique(folds), res.fold_threshold):
        tr = folds != k
        s, y = scores[tr], labels[tr].astype(bool)
        u = np.unique(s)
        cands = np.r_[np.nextafter(u[0], -np.inf), (u[:-1] + u[1:]) / 2, u[-1]]
        correct = np.array([np.count_nonzero((s > c) == y) for c in cands])
        assert t == cands[len(cands) - 1 - np.argmax(correct[::-1])]
    grid = V.kfold_accuracy(scores, labels, folds=folds, search="grid")
    for k, t in zip(np.unique(folds), grid.fold_threshold):
        s, y = scores[folds != k], labels[folds != k]
        assert t == seed_find_best_threshold(V.SEED_GRID, [("a", "b", v, w) for v, w in zip(s, y)])


def test_exact_works_outside_minus_one_one():
    # distances, not similarities: the grid cannot reach them, the exact search can
    scores = np.r_[np.linspace(5, 6, 50), np.linspace(7, 8, 50)]
    labels = np.r_[np.ones(50), np.zeros(50)]
    res = V.kfold_accuracy(-scores, labels, folds=np.arange(100) % 10, search="exact")
    assert res.accuracy == 1.0


def test_roc_points_match_sklearn():
    rng = np.random.default_rng(3)
    scores, labels = random_scores(rng, 5000, on_grid=True)
    fpr, tpr, thr = V.roc(scores, labels)
    s_fpr, s_tpr, s_thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, s_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, s_tpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(thr[1:], s_thr[1:])
    assert V.auc(fpr, tpr) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_tar_eer_on_known_cases():
    labels = np.r_[np.ones(100), np.zeros(100)]
    separable = np.r_[np.linspace(0.6, 0.9, 100), np.linspace(-0.5, 0.5, 100)]
    fpr, tpr, _ = V.roc(separable, labels)
    assert V.auc(fpr, tpr) == 1.0 and V.eer(fpr, tpr) == 0.0 and V.tar_at_far(fpr, tpr, 1e-3) == 1.0
    # one impostor above every genuine pair: at FAR 1e-3 (< 1/100) nothing may be accepted... except below it
    scores = separable.copy()
    scores[150] = 0.95
    fpr, tpr, _ = V.roc(scores, labels)
    assert V.tar_at_far(fpr, tpr, 1e-3) == 0.0
    assert V.tar_at_far(fpr, tpr, 0.01) == 1.0
    assert V.eer(fpr, tpr) == pytest.approx(0.01, abs=1e-9)


def test_eer_is_where_fpr_meets_fnr():
    rng = np.random.default_rng(11)
    scores, labels = random_scores(rng, 20000)
    fpr, tpr, _ = V.roc(scores, labels)
    e = V.eer(fpr, tpr)
    i = np.argmin(np.abs(fpr - (1 - tpr)))
    assert abs(e - fpr[i]) < 2e-3 and abs(e - (1 - tpr[i])) < 2e-3


def test_evaluate_pairs_keys_and_input_checks():
    rng = np.random.default_rng(5)
    scores, labels = random_scores(rng, 600)
    out = V.evaluate_pairs(scores, labels)
    for key in ("accuracy", "std", "threshold", "auc", "eer", "tar_at_far"):
        assert key in out
    assert set(out["tar_at_far"]) == {"0.001", "0.01"}
    with pytest.raises(ValueError, match="both"):
        V.evaluate_pairs(scores, np.ones(600))
    bad = scores.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        V.evaluate_pairs(bad, labels)
