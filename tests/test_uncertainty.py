"""Confidence intervals and paired tests (facebench.evaluate.uncertainty) against their textbook definitions."""
from __future__ import annotations

import numpy as np
import pytest
from facebench.evaluate import uncertainty as u
from scipy import stats


def test_fold_interval_is_the_student_t_interval_of_the_fold_mean():
    acc = np.array([0.99, 0.985, 0.995, 0.98, 0.99, 1.0, 0.975, 0.99, 0.985, 0.99])
    lo, hi = stats.t.interval(0.95, len(acc) - 1, loc=acc.mean(), scale=stats.sem(acc))
    assert u.fold_interval(acc) == pytest.approx([lo, min(hi, 1.0)])
    assert u.fold_interval([0.5, 0.5, 0.5]) == [0.5, 0.5]
    with pytest.raises(ValueError, match="two folds"):
        u.fold_interval([0.9])


def test_bootstrap_by_counts_matches_resampling_the_pairs():
    rng = np.random.default_rng(1)
    correct = rng.random(600) < 0.93
    # the literal bootstrap: resample the 600 pairs with replacement, 4000 times
    literal = correct[rng.integers(0, 600, size=(4000, 600))].mean(axis=1)
    lo, hi = np.quantile(literal, [0.025, 0.975])
    ours = u.bootstrap_interval(correct)
    assert ours == pytest.approx([lo, hi], abs=0.004)
    assert ours[0] < correct.mean() < ours[1]
    assert u.bootstrap_interval(correct) == ours  # seeded: the same interval every time
    assert u.bootstrap_interval(np.ones(50, bool)) == [1.0, 1.0]


def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_pairs():
    # 10 pairs only a gets right, 2 only b: p = 2 * P(X <= 2 | 12, 1/2) = 2 * 79 / 4096
    a = np.array([1] * 10 + [0] * 2 + [1] * 50 + [0] * 5, bool)
    b = np.array([0] * 10 + [1] * 2 + [1] * 50 + [0] * 5, bool)
    r = u.mcnemar(a, b)
    assert (r["a_only"], r["b_only"]) == (10, 2) and r["p_value"] == pytest.approx(2 * 79 / 4096)
    assert u.mcnemar(a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same pairs"):
        u.mcnemar(a, b[:-1])


def test_paired_difference_matches_resampling_the_pairs_together():
    rng = np.random.default_rng(2)
    a = rng.random(800) < 0.90
    b = a.copy()
    b[rng.choice(800, 40, replace=False)] ^= True
    idx = rng.integers(0, 800, size=(4000, 800))
    literal = b[idx].mean(axis=1) - a[idx].mean(axis=1)
    r = u.paired_difference(a, b)
    assert r["difference"] == pytest.approx(b.mean() - a.mean())
    assert r["interval"] == pytest.approx(list(np.quantile(literal, [0.025, 0.975])), abs=0.004)
    assert r["pairs"] == 800
