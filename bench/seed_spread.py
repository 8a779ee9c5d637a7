"""How much a training profile's accuracies move with the training seed alone: a few of its models trained under
several seeds (``train.seed``), everything else unchanged, and each model's DevTest accuracy per seed, its mean,
sample standard deviation and range beside issue 22's tolerance of 0.5 pp.

    python bench/seed_spread.py                                        # lfw-mini: triplet and sphereface, seeds 0-3
    python bench/seed_spread.py --models cosface-bn --seeds 0 1 2 3 4

Why: issue 22 asks that a faster training keep every accuracy within 0.5 pp of today's. That is a claim about one
run against another, and it is only decidable if one seed against another moves less than that. The bench says how
much they move, so a precision or scheduling change is judged against the noise of the recipe itself.

The run is bench/dag_time.py's (from empty results, in a working directory beside the repository), on a copy of the
profile (in results/bench/) that keeps only the chosen models, each as ``<model>-seed<k>`` with its label saying the
seed, evaluated on the alignments the profile evaluates it on. The seed the profile itself trains with (its
``train.seed``, 0 unless set) gives the accuracy the profile reports (on the same machine). Accuracy as in
bench/train_precision.py: 10-fold verification accuracy of plain features, grid threshold. Writes
results/bench/seed_spread-<profile>.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, write  # noqa: E402
from dag_time import run_dag  # noqa: E402
from facebench.io import write_text  # noqa: E402
from train_precision import TOLERANCE_PP, train_seconds  # noqa: E402


def seeded_profile(config: dict, models: list[str], seeds: list[int]) -> dict:
    """The profile with only ``models``, each copied once per seed as ``<model>-seed<k>`` (train.seed = k), and
    evaluated where the profile evaluates it."""
    for name in models:
        if "train" not in config["models"].get(name, {}):
            raise ValueError(f"models.{name}: not a model this profile trains")
    variants, evaluate = {}, []
    for name in models:
        spec = config["models"][name]
        entries = [e for e in config["evaluate"] if e["model"] == name]
        for seed in seeds:
            variant = f"{name}-seed{seed}"
            variants[variant] = {**spec, "label": f"{spec.get('label', name)}, seed {seed}",
                                 "train": {**spec["train"], "seed": seed}}
            evaluate += [{**e, "model": variant} for e in entries]
    return {**config, "models": variants, "evaluate": evaluate}


def seed_accuracies(results: Path, variants: list[str]) -> dict:
    """{variant: {"<alignment>/<protocol>": accuracy}} of plain features, grid threshold, from each variant's own
    metrics files: read per model, not from the summary, which a failed seed's run never reaches (--keep-going)."""
    out = {}
    for variant in variants:
        for f in sorted((results / "metrics" / variant).glob("*/*/*-plain-grid.json")):
            protocol = f.name[:-len("-plain-grid.json")]
            out.setdefault(variant, {})[f"{f.parent.name}/{protocol}"] = json.loads(f.read_text())["accuracy"]
    return out


def failures(results: Path, variants: list[str]) -> dict:
    """{variant: the training's last line} for every variant that left no model (a diverged or failed training)."""
    out = {}
    for variant in variants:
        if not (results / "models" / variant / "model.pt").exists():
            log = results / "logs" / "train" / f"{variant}.log"
            lines = [ln for ln in log.read_text().splitlines() if ln.strip()] if log.exists() else []
            out[variant] = lines[-1].split("\r")[-1].strip() if lines else "no training log"
    return out


def spread(accuracy: dict, models: list[str], seeds: list[int]) -> dict:
    """Per model and evaluated setting: the accuracy of each seed, their mean, sample SD and range, in pp."""
    out = {}
    for name in models:
        runs = {s: accuracy.get(f"{name}-seed{s}", {}) for s in seeds}  # a seed whose run failed has none
        for setting in sorted({k for run in runs.values() for k in run}):
            by_seed = {s: run.get(setting) for s, run in runs.items()}
            values = [v for v in by_seed.values() if v is not None]
            row = {"accuracy_by_seed": {str(s): v for s, v in by_seed.items()}}
            if len(values) >= 2:
                row.update({"mean": statistics.fmean(values), "sd_pp": 100 * statistics.stdev(values),
                            "range_pp": 100 * (max(values) - min(values))})
                row["range_within_tolerance"] = row["range_pp"] <= TOLERANCE_PP
            out.setdefault(name, {})[setting] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "lfw-mini.yaml")
    ap.add_argument("--models", nargs="+", default=["triplet", "sphereface"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--workdir", type=Path, default=ROOT.parent / "facebench-seed-spread")
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    if len(set(a.seeds)) < 2:
        ap.error("--seeds: at least two different seeds")
    config = yaml.safe_load(a.configfile.read_text())
    profile = config["profile"]
    seeded = seeded_profile(config, a.models, a.seeds)
    copy = OUT / f"seed_spread-{profile}.yaml"
    # the copy lies in results/bench/, but its paths are the profile's: relative to the working directory, which
    # lies beside the repository as the checkout does, so ../shared/data resolves the same way
    write_text(copy, yaml.safe_dump(seeded, sort_keys=False))
    # --keep-going: a seed whose training diverges is a result (recorded in "failed"), not the end of the run
    run = run_dag(copy, a.workdir, a.cores, keep_going=True)
    results = a.workdir / "results"
    variants = sorted(seeded["models"])
    failed = failures(results, variants)
    out = {"profile": profile, "models": a.models, "seeds": a.seeds, "tolerance_pp": TOLERANCE_PP,
           "config_copy": str(copy), "accuracy": "10-fold verification accuracy, plain features, grid threshold",
           "wall_seconds": run["wall_seconds"], "returncode": run["returncode"],
           "train_seconds": train_seconds(results, variants), "failed": failed,
           "trained": f"{len(variants) - len(failed)} of {len(variants)}",
           "spread": spread(seed_accuracies(results, variants), a.models, a.seeds)}
    write(f"seed_spread-{profile}", out)
    return 0 if run["returncode"] == 0 or out["spread"] else 1


if __name__ == "__main__":
    sys.exit(main())
