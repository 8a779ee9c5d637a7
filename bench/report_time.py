"""The results table and the report, timed: `summary_table` over every metrics file, writing it (parquet + CSV), and
`build_report` reading that parquet, in process (start-up excluded).

Input: the metrics files under results/metrics/ when a run left some there (verify, rank and dev-threshold files),
else a synthetic set: --models models x 5 verification sets x --alignments alignments x 2 feature modes x 2 threshold
searches, plus a rank file per feature mode on LFW, each verify file with a ROC file of 200 points. Issue 21's target:
collecting the summary adds at most a few seconds to the report rule. Writes results/bench/report_time.json.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, cpu_ticks, steal_share, write
from facebench.io import save_npz, write_json
from facebench.report.build import build_report
from facebench.report.summary import summary_table, write_summary

CODE = {"commit": None, "dirty": False}  # the code version add_provenance records
SETS = [("lfw", "view2"), ("calfw", "calfw"), ("cplfw", "cplfw"), ("agedb_30", "agedb_30"), ("cfp_fp", "cfp_fp")]


def synthetic(root: Path, models: int, alignments: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    names = ["pretrained", "buffalo_l", "sface"] + [f"synth{i}" for i in range(max(0, models - 3))]
    paths = []
    for model in names[:models]:
        for a in range(alignments):
            alignment = ["provided", "mtcnn", "given", "center"][a % 4] + ("" if a < 4 else str(a))
            for dataset, protocol in SETS:
                base = root / model / dataset / alignment
                for features in ("plain", "flip-concat"):
                    for search in ("grid", "exact"):
                        acc = float(rng.uniform(0.8, 0.995))
                        fpr = np.sort(rng.uniform(0, 1, 200))
                        tpr = np.sqrt(fpr)
                        roc = base / f"{protocol}-{features}-{search}.roc.npz"
                        save_npz(roc, fpr=fpr, tpr=tpr, threshold=-fpr, correct=rng.random(6000) < acc)
                        lo, hi = acc - 0.006, min(1.0, acc + 0.006)
                        m = {"accuracy": acc, "std": 0.006, "threshold": 0.3, "auc": 0.99, "eer": 0.02,
                             "n_pairs": 6000, "n_positive": 3000, "n_negative": 3000, "n_folds": 10,
                             "fold_accuracy": [acc] * 10, "fold_threshold": [0.3] * 10, "protocol": search,
                             "tar_at_far": {"0.0001": 0.7, "0.001": 0.85, "0.01": 0.95, "0.1": 0.99},
                             "accuracy_ci": {"level": 0.95, "folds": [lo, hi], "bootstrap": [lo, hi],
                                             "bootstrap_resamples": 2000, "bootstrap_seed": 0},
                             "roc_file": str(roc), "scores_file": str(base / f"{protocol}-{features}.tsv"),
                             "provenance": {"rule": "verify", "profile": "bench", "code": CODE, "config": {
                                 "model": model, "dataset": dataset, "alignment": alignment, "protocol": protocol,
                                 "features": features, "threshold_search": search}}}
                        p = base / f"{protocol}-{features}-{search}.json"
                        write_json(p, m)
                        paths.append(str(p))
            for features in ("plain", "flip-concat"):
                p = root / model / "lfw" / alignment / f"rank-{features}.json"
                write_json(p, {"rank1": 0.8, "rank5": 0.9, "auc_all_pairs": 0.97, "n_probes": 7000,
                               "cmc": np.linspace(0.8, 0.97, 20).tolist(),
                               "open_set": {"dir_at_fpir": {"0.01": 0.5, "0.1": 0.7}, "rank1_mated": 0.8},
                               "provenance": {"rule": "rank", "profile": "bench", "code": CODE, "config": {
                                   "model": model, "dataset": "lfw", "alignment": alignment, "features": features}}})
                paths.append(str(p))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--alignments", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    existing = sorted(str(p) for p in (ROOT / "results" / "metrics").rglob("*.json")) \
        if (ROOT / "results" / "metrics").is_dir() else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = existing or synthetic(tmp / "metrics", args.models, args.alignments, args.seed)
        verify_rank = [p for p in paths if not p.endswith("-devthreshold.json")]
        dev = [p for p in paths if p.endswith("-devthreshold.json")]
        times = {"summary_table": [], "write_summary": [], "build_report": []}
        rows = 0
        before = cpu_ticks()
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            df = summary_table(paths)
            t1 = time.perf_counter()
            write_summary(df, parquet=str(tmp / "summary.parquet"), csv=str(tmp / "summary.csv"))
            t2 = time.perf_counter()
            build_report(verify_rank, dev_thresholds=dev, published=str(ROOT / "report/published.yaml"),
                         template=str(ROOT / "report/templates/index.html.j2"), spec={"profile": "bench"},
                         out=str(tmp / "index.html"), manifest_out=str(tmp / "manifest.json"),
                         summary=str(tmp / "summary.parquet"))
            t3 = time.perf_counter()
            times["summary_table"].append(t1 - t0)
            times["write_summary"].append(t2 - t1)
            times["build_report"].append(t3 - t2)
            rows = len(df)
        after = cpu_ticks()
    med = {k: round(statistics.median(v), 4) for k, v in times.items()}
    write("report_time", {
        "input": "results/metrics" if existing else f"synthetic: {args.models} models x {len(SETS)} sets x "
                                                    f"{args.alignments} alignments",
        "metrics_files": len(paths), "summary_rows": rows, "repeats": args.repeats,
        "median_s": med, "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "summary_share_of_report": round((med["summary_table"] + med["write_summary"]) / med["build_report"], 4),
        "steal_share": steal_share(before, after),
    })


if __name__ == "__main__":
    main()
