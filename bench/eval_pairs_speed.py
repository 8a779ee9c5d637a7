"""Verification metrics on 1,000,000 scored pairs, timed as whole processes (start-up and parsing included).

Baseline: the seed's grid sweep written the straightforward way (np.loadtxt, then for each fold and each of the
400 grid thresholds a vectorised accuracy over the training pairs), the ~11 s reference of issue 2.
Ours: `facebench eval-pairs --protocol exact` (and `grid`), which also computes ROC/AUC/TAR/EER.
Target: ours at least 8x faster than the baseline. Writes results/bench/eval_pairs_speed.json.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from _common import OUT, cpu_ticks, steal_share, write

BASELINE = r"""
import sys
import numpy as np
d = np.loadtxt(sys.argv[1], delimiter="\t", skiprows=1)
s, y = d[:, 0], d[:, 1].astype(int)
n = len(s)
thresholds = np.arange(-1.0, 1.0, 0.005)
acc, thd = [], []
for i in range(10):
    test = np.zeros(n, bool); test[i * n // 10:(i + 1) * n // 10] = True
    st, yt = s[~test], y[~test]
    best_t = best_a = 0
    for t in thresholds:
        a = np.count_nonzero((st > t) == yt) / len(yt)
        if a >= best_a:
            best_a, best_t = a, t
    acc.append(np.count_nonzero((s[test] > best_t) == y[test]) / test.sum()); thd.append(best_t)
print(np.mean(acc), np.std(acc), np.mean(thd))
"""


def make_scores(path, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(np.where(labels == 1, rng.normal(0.45, 0.2, n), rng.normal(0.1, 0.2, n)), -1, 1)
    with open(path, "w") as fh:
        fh.write("score\tlabel\n")
        fh.writelines(f"{s!r}\t{y}\n" for s, y in zip(scores.tolist(), labels.tolist()))


def timed(cmd):
    """Wall seconds, CPU seconds (user+system of the child: excludes time the hypervisor stole) and stdout."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cooldown", type=float, default=5.0, help="idle seconds before each timed run")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"scores_{args.pairs}.tsv"
    make_scores(path, args.pairs, args.seed)
    runs = {"baseline_seed_grid": [], "ours_exact": [], "ours_grid": []}
    cpu = {k: [] for k in runs}
    before = cpu_ticks()
    commands = {
        "baseline_seed_grid": [sys.executable, "-c", BASELINE, str(path)],
        "ours_exact": [sys.executable, "-m", "facebench", "eval-pairs", str(path), "--protocol", "exact"],
        "ours_grid": [sys.executable, "-m", "facebench", "eval-pairs", str(path), "--protocol", "grid"],
    }
    outputs = {}
    names = list(commands)
    for r in range(args.repeats):
        # interleaved and rotated, with an idle pause before each run: this VM's CPU is throttled after bursts
        # (stalls of ~0.5 s), and a run that follows the 15 s baseline would otherwise inherit its debt
        for name in names[r % 3:] + names[:r % 3]:
            time.sleep(args.cooldown)
            t, c, outputs[name] = timed(commands[name])
            runs[name].append(t)
            cpu[name].append(c)
    base_out, exact_out, grid_out = outputs["baseline_seed_grid"], outputs["ours_exact"], outputs["ours_grid"]
    steal = steal_share(before, cpu_ticks())
    import json

    grid = json.loads(grid_out)
    base = [float(v) for v in base_out.split()]
    agree = abs(grid["accuracy"] - base[0]) < 1e-12 and abs(grid["std"] - base[1]) < 1e-12 and \
        abs(grid["threshold"] - base[2]) < 1e-12
    med = {k: statistics.median(v) for k, v in runs.items()}
    best = {k: min(v) for k, v in runs.items()}
    write("eval_pairs_speed", {
        "pairs": args.pairs, "repeats": args.repeats, "cooldown_seconds": args.cooldown, "seconds": runs,
        "median_seconds": med, "best_seconds": best, "cpu_seconds": cpu,
        "median_cpu_seconds": {k: statistics.median(v) for k, v in cpu.items()},
        "speedup_exact_vs_baseline_median_cpu": round(statistics.median(cpu["baseline_seed_grid"])
                                                      / statistics.median(cpu["ours_exact"]), 2),
        "speedup_exact_vs_baseline_median": round(med["baseline_seed_grid"] / med["ours_exact"], 2),
        "speedup_exact_vs_baseline_best": round(best["baseline_seed_grid"] / best["ours_exact"], 2),
        "target_speedup": 8, "reference_baseline_seconds": 11,
        # the issue states its target against the seed sweep's ~11 s on this machine; the baseline above is the same
        # sweep written with vectorised numpy, so it runs faster than that reference: both ratios are recorded
        "speedup_exact_vs_reference_seconds_median": round(11 / med["ours_exact"], 2),
        "ours_grid_equals_baseline": agree, "exact_result": json.loads(exact_out),
        "cpu_steal_share_during_bench": steal,
    })
    path.unlink()


if __name__ == "__main__":
    main()
