"""How the cost of evaluation and analysis grows with the work: time and peak memory of each step at several sizes.

Synthetic 512-d L2-normalised embeddings with identity structure (identities of 5-20 images around random centres,
each image with its own strength of identity, so same- and different-identity scores overlap as real ones do) at
10k, 50k and 200k images; verification on 10^5, 10^6 and 10^7 synthetic scored pairs. Steps:

- ``verification``: what the verify rule computes from a score array (eval-pairs --intervals --roc): the k-fold
  accuracy with both threshold searches, ROC, AUC, TAR@FAR, EER, the DET points and the accuracy intervals.
- ``rank_n``: closed-set rank-N and CMC (evaluate.identification.rank_n), every image a probe.
- ``all_pairs_auc``: the all-pairs AUC, exact up to the configured pairs, sampled above (the output says which).
- ``open_set``: the rank rule's open-set DIR at FPIR (evaluate.openset.open_set), on the same images.
- ``distance_stats`` and ``clustering``: the embedding-stats rule's two parts (analysis.embedding_stats).
- ``tsne``: t-SNE at its configured size (10 identities of at most 40 faces, analysis.tsne).
- ``cpd``: analysis.cpd.embedding_gap at analysis.cpd_points against a noisier copy of the embeddings.

Each (step, size) runs in a fresh process (this script with ``--worker``), which builds its own data and reports its
own peak RSS, so no step inherits another's memory; ``data_mb`` is the peak before the step ran (data and imports).
For each step: its complexity order, the exponent it should grow with, and the fitted exponent between consecutive
sizes (log ratio of seconds, and of the step's own memory, over log ratio of sizes). Where a step subsamples, its
run says so under ``subsampled``. Writes results/bench/scale.json. Timings on a busy machine mean little.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write

DIM = 512
MEMORY_LIMIT_MB = 4096
# order of time, memory, and the exponent of time in the step's size (images, or pairs for verification)
ORDERS = {
    "verification": ("O(p log p) time, O(p) memory in the pairs p (one sort, linear passes)", 1),
    "rank_n": ("O(n^2 d) time, O(n) memory (similarities in blocks of 2^24)", 2),
    "all_pairs_auc": ("exact: O(n^2 d) time, O(n + positives) memory (blocks of 2^23); sampled: O(m d + P log P) for "
                      "m sampled negatives and P positives", 2),
    "open_set": ("O(n g d) time for g gallery identities (g grows with n: O(n^2 d))", 2),
    "distance_stats": ("O(n + pairs d): same-identity pairs capped at analysis.max_pairs", 1),
    "clustering": ("K-means O(n k d) per iteration and silhouette / average linkage O(n^2) as scikit-learn runs them",
                   2),
    "tsne": ("fixed size: at most n_identities x max_per_identity faces, whatever n", 0),
    "cpd": ("CPD O(points^2) per iteration on a seeded subsample; the linear map O(n d^2) on every face", 1),
}
PAIR_STEPS = ("verification",)


def synthetic(n: int, seed: int, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors in identities of 5-20 images: w * centre + sqrt(1 - w^2) * noise, w per image in 0.3-0.8."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 21, size=n // 5 + 1)
    ids = np.repeat(np.arange(len(sizes)), sizes)[:n]
    if np.bincount(ids)[-1] < 2:  # the cut left a single image: rank-N needs two per identity
        ids[-1] = ids[-2] = ids[-3]
    centres = rng.standard_normal((int(ids.max()) + 1, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    f = np.empty((n, dim), np.float32)
    for lo in range(0, n, 1 << 16):  # in chunks: no n x d float64 temporaries
        hi = min(n, lo + (1 << 16))
        w = rng.uniform(0.3, 0.8, size=(hi - lo, 1)).astype(np.float32)
        noise = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        f[lo:hi] = w * centres[ids[lo:hi]] + np.sqrt(1 - w * w) * noise
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f, ids


def synthetic_scores(p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, p)
    return np.clip(np.where(labels == 1, rng.normal(0.45, 0.2, p), rng.normal(0.1, 0.2, p)), -1, 1), labels


def small(result: dict) -> dict:
    """A step's result without its long lists (histograms, curves): what the bench needs to show it ran."""
    out = {}
    for k, v in result.items():
        if isinstance(v, dict):
            out[k] = small(v)
        elif not isinstance(v, (list, np.ndarray)) or len(v) <= 12:
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def step_verification(p: int, seed: int, args) -> tuple[dict, str | None]:
    from facebench.evaluate import uncertainty as u
    from facebench.evaluate.measures import det_points
    from facebench.evaluate.verification import evaluate_pairs

    scores, labels = synthetic_scores(p, seed)
    t0 = time.perf_counter()
    res = {}
    for search in ("grid", "exact"):
        r = evaluate_pairs(scores, labels, search=search, with_roc=True)
        roc, correct = r.pop("roc"), r.pop("correct")
        det_points(roc["fpr"], roc["tpr"], r["n_negative"], r["n_positive"])
        r["ci"] = {"folds": u.fold_interval(r["fold_accuracy"]), "bootstrap": u.bootstrap_interval(correct)}
        res[search] = r
    return {"seconds": time.perf_counter() - t0, "result": res}, None


def run_step(step: str, n: int, seed: int, args) -> tuple[float, dict, str | None]:
    """Time one step on ``n`` images (data built first, outside the clock); returns seconds, result, subsampling."""
    f, ids = synthetic(n, seed)
    data_mb = peak_mb()
    names = np.array([f"id{i}" for i in ids])
    t0 = time.perf_counter()
    sub = None
    if step == "rank_n":
        from facebench.evaluate.identification import rank_n

        res = rank_n(f, names)
    elif step == "all_pairs_auc":
        from facebench.evaluate.identification import all_pairs_auc

        res = all_pairs_auc(f, names, exact_pairs=args.auc_exact_pairs, sample_negatives=args.auc_sample_negatives,
                            seed=seed)
        if res["auc_all_pairs_method"] == "sampled":
            s = res["auc_all_pairs_sample"]
            sub = (f"all {s['positives']} same-identity pairs against {s['negatives']} of {s['of_negatives']} "
                   f"different-identity pairs, sampled with seed {s['seed']} (exact up to {s['exact_above_pairs']} "
                   f"pairs; standard error {s['standard_error']:.2g})")
    elif step == "open_set":
        from facebench.evaluate.openset import open_set

        res = open_set(f, names, seed)
    elif step == "distance_stats":
        from facebench.analysis.embedding_stats import distance_stats

        res = distance_stats(f, names, max_pairs=args.max_pairs, seed=seed)
        sub = f"same-identity pairs capped at max_pairs={args.max_pairs} (seeded), as many different-identity pairs"
    elif step == "clustering":
        from facebench.analysis.clustering import cluster_embeddings

        res = cluster_embeddings(f, names, threshold=args.threshold, seed=seed)
        sub = next((f"{k}: {v}" for k, v in res.items() if "sampl" in k or "subsampl" in k), None)
    elif step == "tsne":
        from facebench.analysis.tsne import layout, pick_faces

        _, idx = pick_faces(ids, n_identities=args.tsne_identities, max_per_identity=args.tsne_per_identity,
                            min_images=5, seed=seed)
        points, perplexity = layout(f[idx], seed=seed)
        res = {"faces": int(len(idx)), "perplexity": perplexity, "finite": bool(np.isfinite(points).all())}
        sub = (f"{len(idx)} faces: {args.tsne_identities} identities drawn with the seed, at most "
               f"{args.tsne_per_identity} faces each (the rule's configured size), of {n}")
    elif step == "cpd":
        from facebench.analysis.cpd import embedding_gap

        rng = np.random.default_rng(seed + 1)
        degraded = f + 0.5 * rng.standard_normal(f.shape, dtype=np.float32) / np.sqrt(DIM)
        t0 = time.perf_counter()  # the degraded copy is data, not the step
        res = embedding_gap(f, degraded, points=args.cpd_points, seed=seed)
        sub = f"CPD on {res['points']} of {res['of']} faces (seeded, analysis.cpd_points); the linear map on all"
    else:
        raise ValueError(f"unknown step {step!r}")
    return time.perf_counter() - t0, {"data_mb": data_mb, "result": small(res)}, sub


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def worker(args) -> None:
    from facebench.runtime import keep_freed_memory

    keep_freed_memory()  # as the rules' commands run (cli.evaluate)
    if args.worker in PAIR_STEPS:
        out, sub = step_verification(args.size, args.seed, args)
        out["data_mb"] = None
    else:
        seconds, out, sub = run_step(args.worker, args.size, args.seed, args)
        out["seconds"] = seconds
    out.update({"peak_mb": peak_mb(), "subsampled": sub})
    Path(args.result).write_text(json.dumps(out, default=float))


def launch(step: str, size: int, args) -> dict:
    """One (step, size) in a fresh process; a failure (error, memory, timeout) is recorded, not raised."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "out.json"
        cmd = [sys.executable, __file__, "--worker", step, "--size", str(size), "--result", str(result),
               "--seed", str(args.seed), "--auc-exact-pairs", str(args.auc_exact_pairs),
               "--auc-sample-negatives", str(args.auc_sample_negatives), "--max-pairs", str(args.max_pairs),
               "--threshold", str(args.threshold), "--cpd-points", str(args.cpd_points),
               "--tsne-identities", str(args.tsne_identities), "--tsne-per-identity", str(args.tsne_per_identity)]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"size": size, "error": f"timed out after {args.timeout} s"}
        wall = time.perf_counter() - t0
        if done.returncode != 0 or not result.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return {"size": size, "error": f"exit {done.returncode}: " + " | ".join(tail)}
        out = json.loads(result.read_text())
    run = {"size": size, "seconds": out["seconds"], "process_seconds": wall, "peak_mb": out["peak_mb"],
           "data_mb": out["data_mb"], "subsampled": out["subsampled"], "result": out["result"]}
    run["step_mb"] = out["peak_mb"] - (out["data_mb"] or 0.0)
    return run


def exponents(runs: list[dict], key: str) -> list[float | None]:
    """log(v2 / v1) / log(size2 / size1) between consecutive successful runs."""
    ok = [r for r in runs if "error" not in r]
    out = []
    for a, b in zip(ok, ok[1:]):
        va, vb = a[key], b[key]
        out.append(round(math.log(vb / va) / math.log(b["size"] / a["size"]), 2) if va > 0 and vb > 0 else None)
    return out


def main():
    from facebench import schema  # the configured sizes, read as the rules read them
    from facebench.evaluate.identification import EXACT_PAIRS, SAMPLE_NEGATIVES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000], help="images")
    ap.add_argument("--pairs", type=int, nargs="+", default=[10 ** 5, 10 ** 6, 10 ** 7], help="scored pairs")
    ap.add_argument("--steps", nargs="+", choices=list(ORDERS), default=list(ORDERS))
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a check that every step runs)")
    ap.add_argument("--seed", type=int, default=schema.default("seed"))
    ap.add_argument("--auc-exact-pairs", type=int, default=EXACT_PAIRS)
    ap.add_argument("--auc-sample-negatives", type=int, default=SAMPLE_NEGATIVES)
    ap.add_argument("--max-pairs", type=int, default=schema.default("analysis.max_pairs"))
    ap.add_argument("--threshold", type=float, default=0.2, help="cosine threshold cutting the agglomerative tree")
    ap.add_argument("--cpd-points", type=int, default=schema.default("analysis.cpd_points"))
    ap.add_argument("--tsne-identities", type=int, default=10, help="as `facebench tsne --identities`")
    ap.add_argument("--tsne-per-identity", type=int, default=40, help="as tsne_identities' max_per_identity")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds one (step, size) may run")
    ap.add_argument("--name", default="scale", help="results/bench/<name>.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.sizes, args.pairs = [200, 500], [10 ** 4, 3 * 10 ** 4]
        args.cpd_points, args.tsne_identities, args.tsne_per_identity = 60, 4, 10
        args.auc_exact_pairs, args.auc_sample_negatives = 50_000, 20_000  # the larger size takes the sampled path
    steps = {}
    for step in args.steps:
        sizes = args.pairs if step in PAIR_STEPS else args.sizes
        runs = []
        for size in sizes:
            runs.append(launch(step, size, args))
            print(f"{step} {size}: " + (runs[-1].get("error") or f"{runs[-1]['seconds']:.2f} s, "
                                                                  f"peak {runs[-1]['peak_mb']:.0f} MB"), flush=True)
        order, expected = ORDERS[step]
        steps[step] = {"order": order, "size_of": "scored pairs" if step in PAIR_STEPS else "images",
                       "expected_time_exponent": expected, "runs": runs,
                       "time_exponent": exponents(runs, "seconds"), "memory_exponent": exponents(runs, "step_mb"),
                       "within_memory_limit": all("error" not in r and r["peak_mb"] <= MEMORY_LIMIT_MB for r in runs)}
    write(args.name, {"sizes": args.sizes, "pairs": args.pairs, "dim": DIM, "seed": args.seed, "quick": args.quick,
                      "memory_limit_mb": MEMORY_LIMIT_MB,
                      "settings": {k: getattr(args, k) for k in ("auc_exact_pairs", "auc_sample_negatives",
                                                                 "max_pairs", "threshold", "cpd_points",
                                                                 "tsne_identities", "tsne_per_identity")},
                      "note": "seconds: the step alone; process_seconds: the whole worker (start-up, data, step); "
                              "peak_mb: the worker's peak RSS; step_mb: peak_mb less the peak before the step",
                      "steps": steps})


if __name__ == "__main__":
    main()
