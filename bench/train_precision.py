"""A training profile's DAG with every model trained under one AMP setting, against an fp32 run: wall time and the
DevTest accuracy of each model side by side (issue 22, target 4: half the time, every accuracy within 0.5 pp).

    python bench/train_precision.py                                   # lfw-mini: bf16 run, then the fp32 run
    python bench/train_precision.py --baseline ../facebench-reproduce/results   # fp32 numbers from an earlier run
    python bench/train_precision.py --configfile config/studies-mini.yaml

Each run is bench/dag_time.py's (from empty results, in a working directory beside the repository). The profile is
copied with ``train.amp`` set on every trained model (the copy lies in results/bench/); nothing else changes. With
``--baseline`` the fp32 side is read from an existing results folder of the same recipes (e.g. config/reproduce.yaml,
which trains lfw-mini's and studies-mini's models unchanged) instead of run again; the JSON names where it came from.
Accuracy is the 10-fold verification accuracy of plain features with the grid threshold (the setting every training
profile computes), per (model, alignment, protocol). One pair of View 1 DevTest's 999 is 0.1 pp.
Writes results/bench/train_precision-<profile>-<amp>.json.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, write  # noqa: E402
from dag_time import rule_times, run_dag  # noqa: E402
from facebench.io import write_text  # noqa: E402
from facebench.train.precision import cpu_native_bf16  # noqa: E402

TOLERANCE_PP = 0.5  # issue 22: every accuracy within 0.5 pp of the fp32 run's, or better


def with_amp(config: dict, amp: str) -> dict:
    """The profile with train.amp set on every model that trains (and only there)."""
    models = {name: ({**spec, "train": {**spec["train"], "amp": amp}} if "train" in spec else spec)
              for name, spec in config["models"].items()}
    return {**config, "models": models}


def trained_models(config: dict) -> list[str]:
    return sorted(name for name, spec in config["models"].items() if "train" in spec)


def accuracies(results: Path, models: list[str]) -> dict:
    """{model: {"<alignment>/<protocol>": accuracy}} of plain features, grid threshold, from results/summary.csv."""
    out = {}
    with (results / "summary.csv").open() as f:
        for row in csv.DictReader(f):
            if (row["model"] in models and row["metric"] == "accuracy" and row["features"] == "plain"
                    and row["threshold_search"] == "grid"):
                out.setdefault(row["model"], {})[f"{row['alignment']}/{row['protocol']}"] = float(row["value"])
    return out


def train_seconds(results: Path, models: list[str]) -> dict:
    jobs = rule_times(results).get("train", {}).get("jobs", {})
    return {m: jobs[m]["seconds"] for m in models if m in jobs}


def compare(fp32: dict, other: dict) -> dict:
    """Per model and evaluation: both accuracies (percent), the difference in pp and whether it holds."""
    rows = {}
    for model in sorted(set(fp32) | set(other)):
        for key in sorted(set(fp32.get(model, {})) | set(other.get(model, {}))):
            a, b = fp32.get(model, {}).get(key), other.get(model, {}).get(key)
            diff = None if a is None or b is None else round(100 * (b - a), 2)
            rows[f"{model} {key}"] = {"fp32": None if a is None else round(100 * a, 2),
                                      "amp": None if b is None else round(100 * b, 2), "diff_pp": diff,
                                      "holds": None if diff is None else diff >= -TOLERANCE_PP}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "lfw-mini.yaml")
    ap.add_argument("--amp", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--workdir", type=Path, help="the runs happen in <workdir>-<amp> and <workdir>-fp32 (default: "
                    "../facebench-precision-<profile>, beside the checkout)")
    ap.add_argument("--baseline", type=Path, metavar="RESULTS",
                    help="read the fp32 side from this results folder instead of running it")
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    config = yaml.safe_load(a.configfile.read_text())
    profile, models = config["profile"], trained_models(config)
    workdir = a.workdir or ROOT.parent / f"facebench-precision-{profile}"
    runs, results = {}, {}
    for amp in (a.amp, "off") if a.baseline is None else (a.amp,):
        copy = OUT / f"train_precision-{profile}-{amp}.yaml"
        write_text(copy, yaml.safe_dump(with_amp(config, amp), sort_keys=False))
        run_in = workdir.with_name(f"{workdir.name}-{'fp32' if amp == 'off' else amp}")
        runs[amp] = {"configfile": str(copy), "workdir": str(run_in), **run_dag(copy, run_in, a.cores)}
        results[amp] = run_in / "results"
        if runs[amp]["returncode"] != 0:
            write(f"train_precision-{profile}-{a.amp}", {"profile": profile, "runs": runs, "failed": amp})
            return 1
    if a.baseline is not None:
        runs["off"] = {"baseline": str(a.baseline.resolve()), "note": "fp32 numbers read from an earlier run"}
        results["off"] = a.baseline
    fp32, other = accuracies(results["off"], models), accuracies(results[a.amp], models)
    rows = compare(fp32, other)
    seconds = {amp: train_seconds(results[amp], models) for amp in (a.amp, "off")}
    held = [r["holds"] for r in rows.values() if r["holds"] is not None]
    out = {"profile": profile, "amp": a.amp, "cpu_native_bf16": cpu_native_bf16(), "models": models,
           "tolerance_pp": TOLERANCE_PP, "accuracy_percent": rows,
           "all_hold": bool(held) and all(held), "holding": f"{sum(held)} of {len(held)}",
           "train_seconds": {"fp32": seconds["off"], a.amp: seconds[a.amp],
                             "total_fp32": round(sum(seconds["off"].values()), 1),
                             f"total_{a.amp}": round(sum(seconds[a.amp].values()), 1)},
           "runs": runs}
    write(f"train_precision-{profile}-{a.amp}", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
