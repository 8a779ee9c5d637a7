"""Verification scorers of the survey seed (002) beside cosine similarity, each fitted on training identities only.

A scorer maps two embeddings to a number that is higher for the same person, so every scorer's output goes through
the same score file and the same k-fold metrics as cosine. The learned ones:

- ``chi2-svm``: DeepFace's weighted chi-squared distance: sum_i w_i (u1_i - u2_i)^2 / (u1_i + u2_i), the weights
  learned by a linear SVM (scikit-learn) on same/different training pairs. DeepFace's features were non-negative
  (ReLU) and divided by their training maximum; ours can be negative, so each dimension is min-max scaled to [0, 1]
  on the training features (test values clipped to that range).
- ``weighted-l1``: DeepFace's learned weighted L1: logistic regression (scikit-learn) on |f1 - f2| of L2-normalised
  features.
- ``joint-bayesian``: Chen et al., ECCV 2012: x = mu + eps with mu ~ N(0, S_mu) (identity) and eps ~ N(0, S_eps)
  (within-person), both covariances estimated by the paper's EM on training embeddings (centred, PCA-reduced), and
  the log-likelihood ratio r = x1'A x1 + x2'A x2 - 2 x1'G x2 as the score.

``fold_scores`` fits one scorer per fold on the images of every identity that does not appear in that fold's pairs,
so no test identity, let alone a test pair, is ever seen in fitting.
"""
from __future__ import annotations

import numpy as np

from facebench.evaluate.scores import cosine, unit_rows
from facebench.runtime import map_in_threads

SCORERS = ("cosine", "euclidean", "chi2-svm", "weighted-l1", "joint-bayesian")
LEARNED = ("chi2-svm", "weighted-l1", "joint-bayesian")
TRAINING_PAIRS = 5000  # same- and different-person pairs per fold: the config's analysis.scorer_training_pairs default


def labelled_pairs(identities, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``n_pairs`` same-person and as many different-person index pairs (i, j, same) from labelled images: a
    learned scorer's training pairs, and the pairs of the distance histograms (analysis/embedding_stats).

    Same-person pairs are drawn uniformly from all of them (every one when there are fewer), different-person pairs
    uniformly from random image pairs of distinct identities."""
    ids = np.asarray(identities)
    _, codes = np.unique(ids, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = [g for g in np.split(order, bounds) if len(g) >= 2]
    if not groups:
        raise ValueError("same-person pairs need at least one identity with two or more images")
    same = np.concatenate([np.column_stack([g[a], g[b]]) for g in groups for a, b in [np.triu_indices(len(g), 1)]])
    if len(same) > n_pairs:
        same = same[rng.choice(len(same), n_pairs, replace=False)]
    k = len(same)
    diff = np.zeros((0, 2), dtype=np.int64)
    while len(diff) < k:  # rejection sampling: a random image pair is almost always two people
        cand = rng.integers(0, len(ids), size=(2 * (k - len(diff)) + 8, 2))
        cand = cand[codes[cand[:, 0]] != codes[cand[:, 1]]]
        diff = np.concatenate([diff, cand])[:k]
    pairs = np.concatenate([same, diff])
    label = np.concatenate([np.ones(k, bool), np.zeros(k, bool)])
    return pairs[:, 0], pairs[:, 1], label


class Scorer:
    name = ""
    learned = False

    def fit(self, features: np.ndarray, identities, rng: np.random.Generator, n_pairs: int = TRAINING_PAIRS) -> Scorer:
        return self

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Cosine(Scorer):
    """The pipeline's own cosine (scores.cosine), so this row equals the main verification table's."""

    name = "cosine"

    def score(self, a, b):
        return cosine(a, b)


class Euclidean(Scorer):
    """Minus the distance between L2-normalised features (a monotone map of cosine: same ranking, same AUC)."""

    name = "euclidean"

    def score(self, a, b):
        return -np.linalg.norm(unit_rows(a) - unit_rows(b), axis=1)


class _PairClassifier(Scorer):
    """A linear classifier on a per-pair feature vector; the score is its signed distance to the boundary.

    Each image is transformed once (``transform``: thousands of images, where the training pairs are 40,000) and
    the pair vector is built from two transformed rows."""

    learned = True

    def prepare(self, features):
        """Fit any per-dimension transform on the training features."""

    def transform(self, features):
        raise NotImplementedError

    def pair_vector(self, u, v):
        raise NotImplementedError

    def make_model(self, seed: int):
        raise NotImplementedError

    def fit(self, features, identities, rng, n_pairs=TRAINING_PAIRS):
        self.prepare(features)
        i, j, same = labelled_pairs(identities, n_pairs, rng)
        self.model = self.make_model(int(rng.integers(2**31 - 1)))
        t = self.transform(features)
        self.model.fit(self.pair_vector(t[i], t[j]), same)
        self.n_train_pairs = int(len(same))
        return self

    def score(self, a, b):
        return self.model.decision_function(self.pair_vector(self.transform(a), self.transform(b)))


class Chi2Svm(_PairClassifier):
    name = "chi2-svm"

    def prepare(self, features):
        self.lo, self.hi = features.min(axis=0), features.max(axis=0)

    def transform(self, features):
        """Min-max scaled to [0, 1] on the training features, values outside their range clipped."""
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        u = np.subtract(features, self.lo)
        np.divide(u, span, out=u)
        return np.clip(u, 0.0, 1.0, out=u)

    def pair_vector(self, u, v):
        # (u - v)^2 / (u + v + 1e-6) in two buffers: 40,000 training pairs x 512 dimensions make each temporary
        # 80 MB, and allocating them cost more than the arithmetic
        diff = np.subtract(u, v)
        np.multiply(diff, diff, out=diff)
        total = np.add(u, v)
        total += 1e-6
        return np.divide(diff, total, out=diff)

    def make_model(self, seed):
        from sklearn.svm import LinearSVC

        # positive weights are what DeepFace's formula means, but an unconstrained linear SVM is what it trained
        return LinearSVC(C=1.0, class_weight="balanced", max_iter=20000, random_state=seed)


class WeightedL1(_PairClassifier):
    name = "weighted-l1"

    def transform(self, features):
        return unit_rows(features)

    def pair_vector(self, u, v):
        diff = np.subtract(u, v)
        return np.abs(diff, out=diff)

    def make_model(self, seed):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)


class JointBayesian(Scorer):
    """Joint Bayesian face verification; ``dims`` PCA components (fitted on the training features) feed the EM."""

    name = "joint-bayesian"
    learned = True

    def __init__(self, dims: int = 128, iterations: int = 50, tol: float = 1e-6):
        self.dims, self.iterations, self.tol = dims, iterations, tol

    def _project(self, f):
        return (np.asarray(f, np.float64) - self.mean) @ self.basis

    def fit(self, features, identities, rng, n_pairs=TRAINING_PAIRS):
        f = unit_rows(features)
        ids = np.asarray(identities)
        _, codes = np.unique(ids, return_inverse=True)
        keep = np.bincount(codes)[codes] >= 2  # within-person scatter needs two images of a person
        if not keep.any():
            raise ValueError("Joint Bayesian needs identities with two or more images")
        f, codes = f[keep], np.unique(codes[keep], return_inverse=True)[1]
        self.mean = f.mean(axis=0)
        centred = f - self.mean
        dims = int(min(self.dims, centred.shape[1], len(np.unique(codes)) - 1, len(f) - 1))
        if dims < 1:
            raise ValueError("Joint Bayesian needs at least two identities")
        # the top principal axes from the d x d scatter (eigh) rather than an SVD of every training image: the same
        # subspace, and the score is unchanged by an axis's sign, at a fraction of the cost (issue 22)
        _, vecs = np.linalg.eigh(centred.T @ centred)
        self.basis = vecs[:, ::-1][:, :dims]
        x = centred @ self.basis
        self.s_mu, self.s_eps, self.iterations_run = _joint_bayesian_em(x, codes, self.iterations, self.tol)
        self.A, self.G = _joint_bayesian_ratio(self.s_mu, self.s_eps)
        return self

    def score(self, a, b):
        x1, x2 = self._project(unit_rows(a)), self._project(unit_rows(b))
        return (np.einsum("ij,jk,ik->i", x1, self.A, x1) + np.einsum("ij,jk,ik->i", x2, self.A, x2)
                - 2 * np.einsum("ij,jk,ik->i", x1, self.G, x2))


def _joint_bayesian_em(x: np.ndarray, codes: np.ndarray, iterations: int, tol: float):
    """S_mu and S_eps by EM for x = mu + eps (Chen et al. 2012's E-step, in closed form per class size m).

    The M-step adds the posterior covariance of mu (the same for eps, as eps = x - mu) to the outer products of the
    posterior means: the paper's M-step leaves it out, which shrinks S_eps by (m-1)/m (a fifth with 5 images per
    person, seen in tests/test_scorers.py); with it this is the exact EM of the model's likelihood.

    The images enter each iteration only through per-class sums and the total scatter x'x: the sum of eps eps' over
    the images is x'x - sums' mu - mu' sums + mu' diag(m) mu, a product over classes, not over images (issue 22)."""
    d = x.shape[1]
    n_cls = int(codes.max()) + 1
    sums = np.zeros((n_cls, d))
    np.add.at(sums, codes, x)
    counts = np.bincount(codes, minlength=n_cls)
    means = sums / counts[:, None]
    ridge = 1e-6 * np.eye(d)
    s_mu = np.cov(means, rowvar=False, bias=True).reshape(d, d) + ridge
    s_eps = np.cov(x - means[codes], rowvar=False, bias=True).reshape(d, d) + ridge
    done = 0
    m = counts[:, None].astype(np.float64)
    scatter = x.T @ x
    while done < iterations:
        done += 1
        # one transform T with T S_eps T' = I and T S_mu T' = diag(lam) makes every class size's posterior diagonal:
        # E[mu | x] = S_mu (m S_mu + S_eps)^-1 sum(x) and Cov(mu | x) = (S_mu^-1 + m S_eps^-1)^-1, without the two
        # d x d inversions per class size that dominated the fit (issue 22)
        chol = np.linalg.cholesky(s_eps)
        w = np.linalg.solve(chol, np.eye(d))
        lam, q = np.linalg.eigh(w @ s_mu @ w.T)
        t, t_inv = q.T @ w, chol @ q
        shrink = lam / (m * lam + 1.0)  # per class and transformed axis: Cov(mu | x) there
        mu = ((sums @ t.T) * shrink) @ t_inv.T
        post_mu = (t_inv * shrink.sum(axis=0)) @ t_inv.T  # sum over classes of Cov(mu | x)
        post_eps = (t_inv * (m * shrink).sum(axis=0)) @ t_inv.T  # over images: m Cov(mu | x) per class
        cross = sums.T @ mu
        eps_scatter = scatter - cross - cross.T + (mu * m).T @ mu  # sum over images of (x - mu)(x - mu)'
        new_mu = (mu.T @ mu + post_mu) / n_cls + ridge
        new_eps = (eps_scatter + post_eps) / len(x) + ridge
        change = max(np.abs(new_mu - s_mu).max() / (np.abs(s_mu).max() + 1e-12),
                     np.abs(new_eps - s_eps).max() / (np.abs(s_eps).max() + 1e-12))
        s_mu, s_eps = (new_mu + new_mu.T) / 2, (new_eps + new_eps.T) / 2
        if change < tol:
            break
    return s_mu, s_eps, done


def _joint_bayesian_ratio(s_mu: np.ndarray, s_eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A and G of the log-likelihood ratio, from the inverse of the joint covariance of a same-person pair."""
    d = len(s_mu)
    joint = np.block([[s_mu + s_eps, s_mu], [s_mu, s_mu + s_eps]])
    inv = np.linalg.inv(joint)
    f_plus_g, g = inv[:d, :d], inv[:d, d:]
    a = np.linalg.inv(s_mu + s_eps) - f_plus_g
    return a, g


def build(name: str) -> Scorer:
    classes = {c.name: c for c in (Cosine, Euclidean, Chi2Svm, WeightedL1, JointBayesian)}
    if name not in classes:
        raise ValueError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
    return classes[name]()


def fold_scores(features: np.ndarray, identities, i1: np.ndarray, i2: np.ndarray, folds: np.ndarray, scorer: str,
                seed: int = 0, n_pairs: int = TRAINING_PAIRS, threads: int = 1) -> tuple[np.ndarray, list[dict]]:
    """Score pairs (rows i1, i2 of ``features``) fold by fold, a learned scorer fitted for each fold on the images of
    the identities absent from that fold's pairs. Returns the scores and one record per fold (what it was fitted on);
    a scorer that learns nothing scores every pair at once and has no records.

    ``threads`` > 1 fits that many folds at once, each with one BLAS thread: liblinear, lbfgs and the EM's algebra
    release the GIL, and one fit is too small to keep two BLAS threads busy. Every fold has its own seed, so the
    scores do not depend on ``threads``.
    """
    ids = np.asarray(identities)
    if not build(scorer).learned:
        return build(scorer).score(features[i1], features[i2]), []

    def one_fold(fold):
        sel = folds == fold
        held_out = np.isin(ids, np.unique(np.concatenate([ids[i1[sel]], ids[i2[sel]]])))
        rng = np.random.default_rng([seed, int(fold)])
        s = build(scorer).fit(features[~held_out], ids[~held_out], rng, n_pairs)
        record = {"fold": int(fold), "train_images": int((~held_out).sum()),
                  "train_identities": int(len(np.unique(ids[~held_out]))),
                  "held_out_identities": int(len(np.unique(ids[held_out])))}
        return sel, s.score(features[i1[sel]], features[i2[sel]]), record

    scores = np.empty(len(i1), dtype=np.float64)
    records = []
    done = map_in_threads(one_fold, np.unique(folds), threads)
    for sel, part, record in done:  # in fold order, however they ran
        scores[sel] = part
        records.append(record)
    return scores, records


def path_identity(path: str) -> str:
    """The person of an image path: its folder (LFW's ``Name/Name_0001.jpg``) or, for a flat name, the name without
    its ``_NNNN`` suffix (CALFW's ``Name_0001.jpg``)."""
    from pathlib import PurePosixPath

    from facebench.data.calfw import identity

    p = PurePosixPath(path)
    return p.parent.name if p.parent.name else identity(p.name)


def compare_scorers(emb: dict[str, np.ndarray], pairs: dict[str, np.ndarray], *, scorers=SCORERS, seed: int = 0,
                    n_pairs: int = TRAINING_PAIRS, search: str = "exact", threads: int = 1) -> dict:
    """Every scorer on one pair list under the pair list's own folds; the learned ones fitted per fold on the
    embedded images of the identities absent from that fold (failed faces are neither scored nor fitted on).
    The threshold search is exact by default: the grid is the cosine range [-1, 1] and the other scores are not.
    ``threads``: folds fitted at once (fold_scores)."""
    import time

    from facebench.evaluate.scores import features, pair_rows
    from facebench.evaluate.verification import evaluate_pairs

    paths = emb["paths"].tolist()
    i1, i2, keep = pair_rows(emb, pairs)
    # renumber onto the usable images only, so a failed face is never a fitting sample
    usable = np.flatnonzero(emb["status"] != "failed")
    new_row = np.full(len(paths), -1)
    new_row[usable] = np.arange(len(usable))
    f = features(emb, "plain")[usable]
    ids = [path_identity(paths[i]) for i in usable]
    j1, j2 = new_row[i1[keep]], new_row[i2[keep]]
    labels, folds = pairs["label"][keep], pairs["fold"][keep]
    out = {"kind": "scorers", "features": "plain", "threshold_search": search, "seed": seed,
           "training_pairs_per_fold": n_pairs, "pairs": int(keep.sum()), "dropped_failed_faces": int((~keep).sum()),
           "scorers": {}}
    for name in scorers:
        t0 = time.perf_counter()
        scores, records = fold_scores(f, ids, j1, j2, folds, name, seed=seed, n_pairs=n_pairs, threads=threads)
        m = evaluate_pairs(scores, labels, folds=folds, search=search)
        out["scorers"][name] = {"accuracy": m["accuracy"], "std": m["std"], "auc": m["auc"], "eer": m["eer"],
                                "learned": build(name).learned, "fits": records,
                                "seconds": round(time.perf_counter() - t0, 2)}
    return out
