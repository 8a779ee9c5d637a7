"""Pair verification: k-fold accuracy with the threshold chosen on the other folds, ROC, AUC, TAR@FAR, EER.

Two threshold searches share one fold protocol:
- ``grid``: the seed protocol, exactly as sphereface_pytorch's lfw_eval.py does it: thresholds
  ``np.arange(-1, 1, 0.005)``, a pair is called "same" when ``score > threshold``, the best threshold on the nine
  training folds wins with ties going to the largest threshold, accuracy is the mean over folds, std is the
  population std (``np.std``), and the reported threshold is the mean of the chosen thresholds.
- ``exact``: the same, but the candidates are one threshold below the lowest training score, the midpoint between
  every two consecutive distinct training scores, and the highest training score, so no accuracy is lost to the
  grid's 0.005 step (and scores outside [-1, 1], distances say, work too). Ties again go to the largest threshold.

Both run on scores sorted once (the seed loops over 400 thresholds x all pairs); tests check them against a literal
re-implementation of the seed loops and against brute force.

ROC points are computed here from the same sorted scores rather than by scikit-learn. Why: importing
sklearn.metrics alone takes longer than the whole 1M-pair evaluation may (bench/eval_pairs_speed.py); the tests
check every point, the AUC and the thresholds against sklearn.metrics.roc_curve / roc_auc_score.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEED_GRID = np.arange(-1.0, 1.0, 0.005)
DEFAULT_FARS = (1e-3, 1e-2)


def contiguous_folds(n: int, n_folds: int = 10) -> np.ndarray:
    """Fold id per pair for the seed's KFold(shuffle=False): fold i is pairs [i*n//k, (i+1)*n//k)."""
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"{n} pairs cannot make {n_folds} folds")
    fold = np.empty(n, dtype=np.int32)
    for i in range(n_folds):
        fold[i * n // n_folds:(i + 1) * n // n_folds] = i
    return fold


@dataclass
class SortedScores:
    """Scores sorted once, shared by every fold's threshold search and by the ROC."""
    order: np.ndarray  # input index of each sorted position
    s: np.ndarray  # sorted scores
    y: np.ndarray  # their labels (bool)

    @classmethod
    def of(cls, scores, labels) -> SortedScores:
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(labels).astype(bool)
        if scores.shape != labels.shape or scores.ndim != 1:
            raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal-length vectors")
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
        order = np.argsort(scores)
        return cls(order, scores[order], labels[order])


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """True at the last element of each run of equal values (np.r_ would be 10x slower on a million)."""
    ends = np.empty(len(sorted_values), dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=ends[:-1])
    ends[-1:] = True
    return ends


def _last_argmax(values: np.ndarray) -> int:
    return len(values) - 1 - int(np.argmax(values[::-1]))


class _FoldSearch:
    """Threshold search on "all pairs but one fold", without materialising the training pairs.

    On the sorted scores, the number of correct training calls for a threshold just above position i is
    P_train + base[i] + d_k[i], where base = cneg - cpos counts over all pairs and d_k = cpos_k - cneg_k counts over
    the held-out fold only (it undoes the fold's share). d_k is constant between two held-out positions, so one
    segmented maximum of base per fold finds the best threshold: one pass over the scores per fold instead of ten.
    """

    def __init__(self, ss: SortedScores, folds: np.ndarray):
        # int32 throughout: on a fresh process every new page costs a fault, and the arrays are a million long
        self.ss = ss
        self.f = folds.astype(np.int32, copy=False)[ss.order]
        by_fold = np.argsort(self.f, kind="stable")  # positions grouped by fold, ascending within each
        grouped = self.f[by_fold]
        starts = np.concatenate(([0], np.flatnonzero(grouped[1:] != grouped[:-1]) + 1))  # np.unique: 20x slower
        self.fold_ids = grouped[starts]
        self.positions = np.split(by_fold, starts[1:])
        cpos = np.cumsum(ss.y, dtype=np.int32)
        self.n_pos = int(cpos[-1]) if len(cpos) else 0
        base = np.arange(1, len(ss.s) + 1, dtype=np.int32)  # becomes cneg - cpos = (i + 1) - 2 cpos, in place
        base -= cpos
        base -= cpos
        base[~_run_ends(ss.s)] = np.iinfo(np.int32).min // 2  # a threshold only falls after the last equal score
        self.base_at_ends = base
        self._pos_neg = None  # sorted positive / negative scores, made on the first grid search only

    def grid(self, idx: np.ndarray) -> float:
        """Best of the seed grid on the training pairs (all but positions ``idx``); ties -> largest threshold."""
        if self._pos_neg is None:
            self._pos_neg = (self.ss.s[self.ss.y], self.ss.s[~self.ss.y])
        pos_all, neg_all = self._pos_neg
        y_k = self.ss.y[idx]
        s_k = self.ss.s[idx]
        pos_k, neg_k = s_k[y_k], s_k[~y_k]
        pos_le = np.searchsorted(pos_all, SEED_GRID, "right") - np.searchsorted(pos_k, SEED_GRID, "right")
        neg_le = np.searchsorted(neg_all, SEED_GRID, "right") - np.searchsorted(neg_k, SEED_GRID, "right")
        correct = (self.n_pos - len(pos_k) - pos_le) + neg_le
        return float(SEED_GRID[_last_argmax(correct)])

    def exact(self, idx: np.ndarray) -> float:
        """Best exact candidate on the training pairs (all but positions ``idx``); ties -> largest threshold."""
        s = self.ss.s
        d = np.cumsum(np.where(self.ss.y[idx], 1, -1), dtype=np.int32)  # d_k from each held-out position on
        starts = idx if idx[0] == 0 else np.concatenate((np.zeros(1, idx.dtype), idx))
        d_seg = d if idx[0] == 0 else np.concatenate((np.zeros(1, d.dtype), d))
        seg_max = np.maximum.reduceat(self.base_at_ends, starts)
        total = seg_max + d_seg  # correct calls minus P_train, best of each segment
        best = _last_argmax(total)
        if total[best] < 0:  # calling every training pair "same" (threshold below all) is strictly best
            return float(np.nextafter(self._train_after(-1, idx), -np.inf))
        lo = starts[best]
        hi = starts[best + 1] if best + 1 < len(starts) else len(s)
        p = lo + _last_argmax(self.base_at_ends[lo:hi] == seg_max[best])
        q = self._train_at_or_before(p, idx)
        if q < 0:  # no training score up to p: the same call as the threshold below all
            return float(np.nextafter(self._train_after(-1, idx), -np.inf))
        low = s[q]
        r = self._train_index_after(p, idx)
        if r is None:
            return float(low)
        high = s[r]
        mid = (low + high) / 2.0
        return float(mid if mid < high else low)  # adjacent floats: the midpoint may round up onto the next score

    def _train_at_or_before(self, p: int, idx: np.ndarray) -> int:
        j = int(np.searchsorted(idx, p, "right")) - 1  # held-out positions <= p are idx[:j+1]
        while j >= 0 and idx[j] == p:  # walk back over a run of held-out positions ending at p
            p -= 1
            j -= 1
        return p

    def _train_index_after(self, p: int, idx: np.ndarray) -> int | None:
        r = p + 1
        j = int(np.searchsorted(idx, r, "left"))
        while j < len(idx) and idx[j] == r:
            r += 1
            j += 1
        return r if r < len(self.ss.s) else None

    def _train_after(self, p: int, idx: np.ndarray) -> float:
        r = self._train_index_after(p, idx)
        if r is None:
            raise ValueError("a fold leaves no training pairs")
        return self.ss.s[r]


@dataclass
class FoldResult:
    accuracy: float
    std: float
    threshold: float
    fold_accuracy: list[float]
    fold_threshold: list[float]
    fold_size: list[int]
    correct: np.ndarray = field(repr=False)  # per pair, in input order: was its test-fold call right


def kfold_accuracy(scores, labels, folds=None, n_folds: int = 10, search: str = "grid",
                   sorted_scores: SortedScores | None = None) -> FoldResult:
    """Accuracy with the threshold picked on the other folds; ``folds`` is a fold id per pair (default contiguous)."""
    if search not in ("grid", "exact"):
        raise ValueError(f"threshold search must be 'grid' or 'exact', got {search!r}")
    ss = sorted_scores or SortedScores.of(scores, labels)
    n = len(ss.s)
    folds = contiguous_folds(n, n_folds) if folds is None else np.asarray(folds)
    if folds.shape != (n,):
        raise ValueError(f"{len(folds)} fold ids for {n} pairs")
    search_in = _FoldSearch(ss, folds)
    if len(search_in.fold_ids) < 2:
        raise ValueError("k-fold evaluation needs at least two folds")
    correct_sorted = np.zeros(n, dtype=bool)
    accs, thds, sizes = [], [], []
    for idx in search_in.positions:
        t = search_in.grid(idx) if search == "grid" else search_in.exact(idx)
        hit = (ss.s[idx] > t) == ss.y[idx]
        correct_sorted[idx] = hit
        accs.append(1.0 * np.count_nonzero(hit) / len(hit))
        thds.append(t)
        sizes.append(len(idx))
    correct = np.empty_like(correct_sorted)
    correct[ss.order] = correct_sorted
    return FoldResult(float(np.mean(accs)), float(np.std(accs)), float(np.mean(thds)), accs, thds, sizes, correct)


def roc(scores=None, labels=None, sorted_scores: SortedScores | None = None):
    """ROC points (fpr, tpr, thresholds), one per distinct score from the highest down, starting at (0, 0) with
    threshold +inf: the points of sklearn.metrics.roc_curve(drop_intermediate=False)."""
    ss = sorted_scores or SortedScores.of(scores, labels)
    s, y = ss.s[::-1], ss.y[::-1]
    ends = np.flatnonzero(_run_ends(s))
    tps = np.cumsum(y, dtype=np.int64)[ends]
    fps = (ends + 1) - tps
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC needs both same-person and different-person pairs")
    fpr = np.concatenate(([0.0], fps / n_neg))
    tpr = np.concatenate(([0.0], tps / n_pos))
    return fpr, tpr, np.concatenate(([np.inf], s[ends]))


def auc(fpr, tpr) -> float:
    return float(np.trapezoid(tpr, fpr))


def tar_at_far(fpr, tpr, far: float) -> float:
    """Largest TPR among thresholds whose FPR does not exceed ``far`` (no interpolation: a conservative reading)."""
    ok = fpr <= far * (1 + 1e-9)
    return float(tpr[ok].max()) if ok.any() else 0.0


def eer(fpr, tpr) -> float:
    """Equal error rate: where FPR crosses FNR = 1 - TPR, linearly interpolated between the two ROC points."""
    diff = fpr - (1.0 - tpr)  # non-decreasing from -1 (fpr 0, fnr 1) to +1
    i = int(np.searchsorted(diff, 0.0))
    if i == 0:
        return float(fpr[0])
    if i >= len(diff):
        return float(fpr[-1])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


def evaluate_pairs(scores, labels, folds=None, n_folds: int = 10, search: str = "grid",
                   fars=DEFAULT_FARS, with_roc: bool = False) -> dict:
    """Every verification metric of one scored pair list, as a JSON-ready dict (``roc`` arrays if asked)."""
    ss = SortedScores.of(scores, labels)
    if ss.y.all() or not ss.y.any():
        raise ValueError("a pair list needs both same-person (label 1) and different-person (label 0) pairs")
    res = kfold_accuracy(None, None, folds, n_folds, search, sorted_scores=ss)
    fpr, tpr, thr = roc(sorted_scores=ss)
    out = {
        "protocol": search,
        "n_pairs": int(len(ss.y)),
        "n_positive": int(ss.y.sum()),
        "n_negative": int((~ss.y).sum()),
        "n_folds": len(res.fold_accuracy),
        "accuracy": res.accuracy,
        "std": res.std,
        "threshold": res.threshold,
        "fold_accuracy": res.fold_accuracy,
        "fold_threshold": res.fold_threshold,
        "auc": auc(fpr, tpr),
        "eer": eer(fpr, tpr),
        "tar_at_far": {f"{far:g}": tar_at_far(fpr, tpr, far) for far in fars},
    }
    if with_roc:
        out["roc"] = {"fpr": fpr, "tpr": tpr, "threshold": thr}
        out["correct"] = res.correct
    return out
