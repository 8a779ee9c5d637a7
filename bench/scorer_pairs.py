"""The learned scorers on a real run's embeddings with two numbers of training pairs per fold (issue 22: the default
went from 20,000 to 5,000 on 2026-12-03), side by side: accuracy, its fold std, AUC and seconds of each.

    python bench/scorer_pairs.py --run ../facebench-dag-bench/results --model pretrained --dataset lfw \\
        --alignments provided center --protocol view2

``--run`` is the results folder of any run (e.g. bench/dag_time.py's); it reads its embeddings and pair protocol.
Writes results/bench/scorer_pairs.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from _common import write


def main() -> None:
    from facebench.data.protocols import read_pairs_tsv
    from facebench.evaluate.scorers import LEARNED, compare_scorers
    from facebench.io import load_npz

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a run's results folder")
    ap.add_argument("--model", default="pretrained")
    ap.add_argument("--dataset", default="lfw")
    ap.add_argument("--alignments", nargs="+", default=["provided"])
    ap.add_argument("--protocol", default="view2")
    ap.add_argument("--pairs", type=int, nargs=2, default=[5000, 20000], metavar=("NEW", "OLD"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    pairs = read_pairs_tsv(a.run / "protocols" / a.dataset / f"pairs-{a.protocol}.tsv")
    out = {"run": str(a.run.resolve()), "model": a.model, "dataset": a.dataset, "protocol": a.protocol,
           "training_pairs": a.pairs, "alignments": {}}
    for alignment in a.alignments:
        emb = load_npz(a.run / "embeddings" / a.model / a.dataset / f"{alignment}.npz")
        runs = {n: compare_scorers(emb, pairs, scorers=list(LEARNED), n_pairs=n, threads=a.threads)["scorers"]
                for n in a.pairs}
        new, old = (runs[n] for n in a.pairs)
        out["alignments"][alignment] = {
            name: {**{f"{key}_{n}": runs[n][name][key] for n in a.pairs for key in ("accuracy", "std", "auc",
                                                                                   "seconds")},
                   "accuracy_change_pp": round(100 * (new[name]["accuracy"] - old[name]["accuracy"]), 3),
                   "within_fold_std": abs(new[name]["accuracy"] - old[name]["accuracy"]) <= old[name]["std"]}
            for name in LEARNED}
    write("scorer_pairs", out)


if __name__ == "__main__":
    main()
