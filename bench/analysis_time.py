"""The analysis rules' work at LFW size on synthetic embeddings, timed in-process (issue 22: each at most 10 s).

LFW's shape: 13,233 images of 5,749 people; the identification images are the 9,164 of the 1,680 people with two or
more; view 2 has 6,000 pairs in 10 folds of 300 same + 300 different, each fold its own people. The synthetic
embeddings are one unit centre per person plus Gaussian noise (same-person cosine about 0.6, different about 0), so
clustering and the learned scorers meet the structure they meet on a real model. Image counts per person follow a
power law fitted to LFW's (530 at the top, about half of the people with exactly two).

Times ``embedding_stats`` (distance histograms + clustering), ``compare_scorers`` (every scorer, 10 folds) and
``embedding_gap`` (CPD, 1,000 points); the figures before issue 22 are the rules' benchmark files of a run at an
earlier commit (bench/dag_time.py). The learned scorers fit on ``--pairs`` training pairs per fold (the config default,
5,000) and, unless ``--old-pairs 0``, once more on the 20,000 the default was before 2026-12-03, so the JSON shows the
accuracy and time of both. K-means's seeding (clustering.kmeans_starts, from the distance matrix since 2026-12-03) is
compared with scikit-learn's kmeans_plusplus, which it replaced, at the oracle's k: the time of both seedings and the
NMI / ARI of the K-means fits from each (``seeding``; ``--no-seeding`` skips it). ``--small`` runs a tenth of LFW
to check the script works.
Writes results/bench/analysis_time.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import cpu_ticks, steal_share, write

LFW = {"images": 13233, "people": 5749, "identification_images": 9164, "identification_people": 1680,
       "pairs": 6000, "folds": 10}


def image_counts(people: int, images: int) -> np.ndarray:
    """Images per person, a power law in rank (LFW's: 530 at rank 1), at least 2 each, summing to ``images``."""
    counts = np.maximum(2, np.round(530 * np.arange(1, people + 1) ** -0.81)).astype(int)
    counts = np.maximum(2, np.round(counts * images / counts.sum())).astype(int)
    counts[0] += images - counts.sum()  # the rounding remainder goes to the largest identity
    return counts


def synthetic(scale: float = 1.0, dim: int = 512, noise: float = 0.8, seed: int = 0) -> dict:
    """Embeddings, identification list and view-2-like pairs with LFW's shape (``scale`` < 1: proportionally fewer)."""
    rng = np.random.default_rng(seed)
    multi = max(20, int(LFW["identification_people"] * scale))
    counts = image_counts(multi, max(2 * multi, int(LFW["identification_images"] * scale)))
    singles = int((LFW["people"] - LFW["identification_people"]) * scale)
    counts = np.concatenate([counts, np.ones(singles, int)])
    names = np.array([f"Person_{k:05d}" for k in range(len(counts))])
    person = np.repeat(np.arange(len(counts)), counts)
    index = np.concatenate([np.arange(1, c + 1) for c in counts])
    paths = np.array([f"{names[p]}/{names[p]}_{i:04d}.jpg" for p, i in zip(person, index)])
    centres = rng.normal(size=(len(counts), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    feats = (centres[person] + noise * rng.normal(size=(len(person), dim)) / np.sqrt(dim)).astype(np.float32)
    emb = {"paths": paths, "features": feats, "status": np.full(len(paths), "ok")}
    ident = person < multi
    # each fold its own people: same pairs from people with two or more images, different pairs from any two
    folds = LFW["folds"]
    per_fold = max(10, int(LFW["pairs"] * scale) // (2 * folds))
    group = rng.integers(0, folds, len(counts))
    p1, p2, label, fold = [], [], [], []
    for f in range(folds):
        mine = np.flatnonzero(group == f)
        multis = mine[counts[mine] >= 2]
        for p in rng.choice(multis, per_fold):
            a, b = rng.choice(np.flatnonzero(person == p), 2, replace=False)
            p1.append(a), p2.append(b), label.append(1), fold.append(f)
        for _ in range(per_fold):
            x, y = rng.choice(mine, 2, replace=False)
            p1.append(rng.choice(np.flatnonzero(person == x))), p2.append(rng.choice(np.flatnonzero(person == y)))
            label.append(0), fold.append(f)
    pairs = {"path1": paths[p1], "path2": paths[p2], "label": np.array(label), "fold": np.array(fold)}
    return {"emb": emb, "ident_paths": paths[ident].tolist(), "ident_ids": names[person[ident]].tolist(),
            "pairs": pairs, "people": int(len(counts)), "identification_people": multi}


def seeding_comparison(data: dict, seed: int) -> dict:
    """The oracle's K-means (2 starts, k = identities) from our seeding and from scikit-learn's, on the same images."""
    from facebench.analysis.clustering import cosine_distances, kmeans_starts, lloyd
    from facebench.evaluate.scores import unit_rows
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rows = np.flatnonzero(np.isin(data["emb"]["paths"], data["ident_paths"]))
    u = unit_rows(data["emb"]["features"][rows])
    ids = np.asarray(data["ident_ids"])
    k = len(np.unique(ids))
    f32 = u.astype(np.float32)
    distances = cosine_distances(u)
    starts, ours_s, _ = timed(kmeans_starts, distances, k, seed, 2)
    ours = lloyd(f32, starts, k)
    rng = np.random.RandomState(seed)
    theirs_starts, theirs_s, _ = timed(lambda: [kmeans_plusplus(u, k, random_state=rng)[0] for _ in range(2)])
    fits = [KMeans(n_clusters=k, init=c.astype(np.float32), n_init=1).fit(f32) for c in theirs_starts]
    theirs = min(fits, key=lambda m: m.inertia_).labels_
    return {"k": k, "starts": 2,
            "ours": {"seconds": ours_s, "nmi": float(normalized_mutual_info_score(ids, ours)),
                     "ari": float(adjusted_rand_score(ids, ours))},
            "scikit_learn_kmeans_plusplus": {"seconds": theirs_s,
                                             "nmi": float(normalized_mutual_info_score(ids, theirs)),
                                             "ari": float(adjusted_rand_score(ids, theirs))}}


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)


def main():
    from facebench import schema  # the configured sizes, read as the rules read them
    from facebench.analysis.cpd import embedding_gap
    from facebench.analysis.embedding_stats import embedding_stats
    from facebench.evaluate.scorers import compare_scorers

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="a tenth of LFW: checks the script, times nothing useful")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cpd", action="store_true")
    ap.add_argument("--no-seeding", action="store_true", help="skip the comparison with scikit-learn's seeding")
    ap.add_argument("--threads", type=int, default=2, help="compare_scorers' folds at once (analysis.threads)")
    ap.add_argument("--pairs", type=int, default=schema.default("analysis.scorer_training_pairs"),
                    help="training pairs per fold (analysis.scorer_training_pairs)")
    ap.add_argument("--old-pairs", type=int, default=20000, help="the former default, compared (0: skip)")
    args = ap.parse_args()
    scale = 0.1 if args.small else 1.0
    data = synthetic(scale, args.dim, seed=args.seed)
    emb = data["emb"]
    before = cpu_ticks()
    seconds, cpu = {}, {}
    stats, seconds["embedding_stats"], cpu["embedding_stats"] = timed(
        embedding_stats, emb, data["ident_paths"], data["ident_ids"], threshold=0.3, seed=args.seed)
    sc, seconds["compare_scorers"], cpu["compare_scorers"] = timed(compare_scorers, emb, data["pairs"],
                                                                   seed=args.seed, n_pairs=args.pairs,
                                                                   threads=args.threads)
    result = {"scale": scale, "embedding_size": args.dim, "threads": args.threads,
              "scorer_training_pairs": args.pairs, "images": int(len(emb["paths"])),
              "people": data["people"],
              "identification_images": len(data["ident_paths"]),
              "identification_people": data["identification_people"], "pairs": int(len(data["pairs"]["label"])),
              "target_seconds_per_rule": 10,
              "embedding_stats": {"clustering": stats["clustering"], "d_prime": stats["distances"]["d_prime"]},
              "compare_scorers": {n: {k: v[k] for k in ("accuracy", "auc", "seconds")}
                                  for n, v in sc["scorers"].items()}}
    if args.old_pairs:
        learned = [n for n, v in sc["scorers"].items() if v["learned"]]
        old, old_seconds, _ = timed(compare_scorers, emb, data["pairs"], scorers=learned, seed=args.seed,
                                    n_pairs=args.old_pairs, threads=args.threads)
        result["compare_scorers_old_pairs"] = {
            "scorer_training_pairs": args.old_pairs, "seconds": old_seconds,
            "scorers": {n: {k: v[k] for k in ("accuracy", "auc", "seconds")} for n, v in old["scorers"].items()},
            "accuracy_change_pp": {n: round(100 * (sc["scorers"][n]["accuracy"] - v["accuracy"]), 3)
                                   for n, v in old["scorers"].items()}}
    if not args.no_seeding:
        result["seeding"] = seeding_comparison(data, args.seed)
    if not args.no_cpd:
        rng = np.random.default_rng(args.seed)
        f = emb["features"]
        low = f + 0.3 * rng.normal(size=f.shape).astype(np.float32) / np.sqrt(f.shape[1])
        _, seconds["cpd"], cpu["cpd"] = timed(embedding_gap, f, low, points=1000, seed=args.seed)
    write("analysis_time", {**result, "seconds": seconds, "cpu_seconds": cpu,
                            "cpu_steal_share_during_bench": steal_share(before, cpu_ticks())})


if __name__ == "__main__":
    main()
