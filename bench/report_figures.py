"""The report's figures, timed: each figure function of facebench.report.figures drawn on inputs the size of the
smoke profile's (--runs runs; ROC/DET of --points points, CMC of 20 ranks, distance histograms of 50 bins, t-SNE of
--points / 2 faces of 10 people, the benchmark heatmap of --runs models x 5 sets), best of --repeat, start-up
excluded. Issue 21's target: drawing the figures adds at most a few seconds to the report rule. Writes
results/bench/report_figures.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import cpu_ticks, steal_share, write
from facebench.evaluate.measures import det_points
from facebench.report import figures


def inputs(runs: int, points: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rocs = []
    for i in range(runs):
        fpr = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, points - 2)), [1.0]])
        rocs.append((f"run {i}", fpr, fpr ** (0.1 + 0.05 * i)))
    dets = [{"label": label, **{k: v for k, v in det_points(fpr, tpr, points, points).items() if "probit" in k}}
            for label, fpr, tpr in rocs]
    bins = np.linspace(0, 2, 51)
    return {
        "roc_figure": ([{"label": label, "fpr": fpr, "tpr": tpr} for label, fpr, tpr in rocs],),
        "det_figure": (dets,),
        "cmc_figure": ([{"label": f"run {i}", "cmc": np.sort(rng.uniform(0.5, 1, 20))} for i in range(runs)],),
        "distance_histograms_figure": ([{"title": f"run {i}", "bins": bins, "intra": rng.integers(0, 200, 50),
                                         "inter": rng.integers(0, 2000, 50)} for i in range(runs)],),
        "tsne_figure": ([{"title": f"run {i}", "points": rng.normal(size=(points // 2, 2)),
                          "identity": np.repeat(np.arange(10), points // 20)} for i in range(runs)],),
        "benchmark_heatmap": (pd.DataFrame(rng.uniform(0.8, 1, (runs, 5)), index=[f"model {i}" for i in range(runs)],
                                           columns=["lfw", "calfw", "cplfw", "agedb_30", "cfp_fp"]),),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--points", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = inputs(a.runs, a.points, a.seed)
    figures.roc_figure(data["roc_figure"][0][:1])  # warm: the theme and the first draw's font cache
    before = cpu_ticks()
    seconds = {}
    for name, args in data.items():
        times = []
        for _ in range(a.repeat):
            start = time.perf_counter()
            getattr(figures, name)(*args)
            times.append(time.perf_counter() - start)
        seconds[name] = round(min(times), 4)
    write("report_figures", {"runs": a.runs, "points": a.points, "repeat": a.repeat, "seconds": seconds,
                             "total_s": round(sum(seconds.values()), 3), "steal": steal_share(before, cpu_ticks())})


if __name__ == "__main__":
    main()
