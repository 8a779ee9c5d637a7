"""Error-rate measures in the manner of Idiap's bob.measure: the DET curve, the EER threshold, and FMR / FNMR / HTER
at a threshold fixed beforehand (chosen on a development set, applied unchanged to the test set).

Terms: a pair is a *match* (same person, label 1) or a *non-match* (label 0); a pair is *accepted* ("same") when its
score is above the threshold (``score > t``, the convention of the k-fold searches in verification.py).
FMR (false match rate) = accepted non-matches / non-matches, the ROC's FPR; FNMR (false non-match rate) = rejected
matches / matches = 1 - TPR. HTER = (FMR + FNMR) / 2.

DET: every ROC point (verification.roc: one per distinct score), FMR against FNMR, both on normal-deviate axes
(probit = the standard normal quantile, scipy.stats.norm.ppf). A rate of 0 or 1 has no finite deviate, so each rate is
first clipped into [c, 1 - c] with c half a pair of its denominator (0.5 / non-matches for FMR, 0.5 / matches for
FNMR): a rate nobody could measure is drawn just beyond the smallest measurable one, not at an arbitrary depth.
scipy.special.ndtri is norm.ppf's own kernel, and importing scipy.special costs a fraction of scipy.stats (the verify
job counts its start-up); the tests check it against norm.ppf.

EER threshold (the development threshold): among the ROC's operating points, the one where |FMR - FNMR| is smallest
(ties: the higher threshold, fewer false matches), as bob.measure.eer_threshold picks the threshold closest to the
EER. Its threshold is the midpoint between the lowest accepted score and the next lower score (the exact search's
candidates), so no development score lies on it and the development calls are exactly the chosen point's.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.verification import SortedScores, eer, roc

DEV_THRESHOLD = ("the EER threshold of the development scores: the ROC operating point with the smallest |FMR - FNMR| "
                 "(ties: the higher threshold), at the midpoint between its lowest accepted score and the next lower "
                 "one; applied unchanged to the test scores, a pair scoring above it called the same person")


def probit(p) -> np.ndarray:
    """The standard normal quantile of each rate (scipy.stats.norm.ppf); 0 and 1 give -inf and +inf."""
    from scipy.special import ndtri

    return ndtri(np.asarray(p, dtype=np.float64))


def det_points(fpr, tpr, n_negative: int, n_positive: int) -> dict:
    """The DET curve of ROC points: FMR, FNMR and their clipped normal deviates (one per ROC point, same order), and
    the two clip floors. ``n_negative`` / ``n_positive``: the non-match / match pairs the rates count."""
    if n_negative < 1 or n_positive < 1:
        raise ValueError(f"a DET needs match and non-match pairs, got {n_positive} and {n_negative}")
    fmr = np.asarray(fpr, dtype=np.float64)
    fnmr = 1.0 - np.asarray(tpr, dtype=np.float64)
    c_fmr, c_fnmr = 0.5 / n_negative, 0.5 / n_positive
    return {"fmr": fmr, "fnmr": fnmr,
            "probit_fmr": probit(np.clip(fmr, c_fmr, 1.0 - c_fmr)),
            "probit_fnmr": probit(np.clip(fnmr, c_fnmr, 1.0 - c_fnmr)),
            "clip": np.array([c_fmr, c_fnmr])}


def rates_at(scores, labels, threshold: float) -> dict:
    """FMR, FNMR and HTER of calling "same" every pair scoring above ``threshold``, with the pair counts."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be equal-length vectors")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("FMR and FNMR need both same-person (label 1) and different-person (label 0) pairs")
    accepted = s > threshold
    fmr = np.count_nonzero(accepted & ~y) / n_neg
    fnmr = np.count_nonzero(~accepted & y) / n_pos
    return {"n_positive": n_pos, "n_negative": n_neg, "fmr": float(fmr), "fnmr": float(fnmr),
            "hter": float((fmr + fnmr) / 2.0)}


def eer_threshold(scores, labels) -> float:
    """The threshold of the operating point closest to the EER (see the module docstring); ``score > t`` accepts."""
    ss = SortedScores.of(scores, labels)
    fpr, tpr, thr = roc(sorted_scores=ss)  # thr[i]: point i accepts score >= thr[i]; thr[0] = +inf accepts none
    gap = np.abs(fpr - (1.0 - tpr))
    i = int(np.argmin(gap))  # the first minimum: the highest threshold among ties
    if i == 0:
        return float(thr[1])  # nothing scores above the highest score
    if i + 1 >= len(thr):
        return float(np.nextafter(thr[i], -np.inf))  # every pair accepted
    high, low = thr[i], thr[i + 1]
    mid = (high + low) / 2.0
    return float(mid if mid < high else low)  # adjacent floats: the midpoint may round up onto the accepted score


def dev_test_rates(dev_scores, dev_labels, test_scores, test_labels) -> dict:
    """The EER threshold of the development scores, and FMR / FNMR / HTER at it on both sets."""
    t = eer_threshold(dev_scores, dev_labels)
    dev = rates_at(dev_scores, dev_labels, t)
    dev["eer"] = eer(*roc(dev_scores, dev_labels)[:2])  # the interpolated EER the threshold approximates
    return {"threshold": t, "dev": dev, "test": rates_at(test_scores, test_labels, t)}
