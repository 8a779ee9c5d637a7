"""Wall time and peak memory of a whole profile's DAG, from empty results, plus the time of every rule.

    python bench/dag_time.py                      # lfw-mini from scratch in ../facebench-dag-bench (about 30 min here)
    python bench/dag_time.py --configfile config/smoke.yaml
    python bench/dag_time.py --rules-only results  # only sum the per-rule benchmark files of an existing run
    python bench/dag_time.py --configfile config/reproduce.yaml --workdir ../facebench-reproduce --resume

A DAG longer than a sitting can be timed in segments: stop snakemake (Ctrl-C; the running job is killed, a training
keeps its last checkpoint) and go on later with ``--resume``, which keeps the folder, reruns the killed job and adds
this segment's wall time to the earlier ones (``<workdir>/dag_time-segments.json``). The total then includes the
work the killed job redoes since its last checkpoint, so it overstates the uninterrupted time a little.

The run happens in a working directory beside the repository (so the profiles' ``../shared/data`` paths resolve the
same way) and never touches this checkout's results/. Per-rule seconds and RSS come from the ``benchmark:`` files
Snakemake writes for the heavy rules (landmarks, align, train, embed); the wall time is the whole snakemake process.
After the DAG, in the same run and on the same machine, the forward-compute floor of its embedding work
(bench/forward_floor.py: the frozen network alone for every face and mirror image the embed jobs embedded) and the
ratio wall / floor. Writes results/bench/dag_time-<profile>.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, cpu_ticks, steal_share, write  # noqa: E402
from facebench.io import write_json  # noqa: E402
from forward_floor import floor_seconds  # noqa: E402


def rule_times(results: Path) -> dict:
    """seconds and max RSS (MB) of every benchmarked job, grouped by rule, from results/benchmarks/<rule>/<job>.tsv."""
    rules = {}
    for tsv in sorted((results / "benchmarks").glob("*/*.tsv")):
        with tsv.open() as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows:
            continue
        row = rows[-1]
        entry = rules.setdefault(tsv.parent.name, {"jobs": {}, "seconds": 0.0, "max_rss_mb": 0.0})
        seconds, rss = float(row["s"]), float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0
        entry["jobs"][tsv.stem] = {"seconds": round(seconds, 1), "max_rss_mb": round(rss, 1)}
        entry["seconds"] = round(entry["seconds"] + seconds, 1)
        entry["max_rss_mb"] = max(entry["max_rss_mb"], round(rss, 1))
    return rules


def embedded_forwards(results: Path) -> int:
    """Forwards the embed jobs ran: every embedded face and its mirror image, from the embeddings' own meta."""
    total = 0
    for npz in sorted((results / "embeddings").glob("*/*/*.npz")):
        with np.load(npz, allow_pickle=False) as z:
            total += 2 * int(json.loads(str(z["meta"]))["n_images"])
    return total


def floor_budget(wall: float, rules: dict, floor: float, target: float = 1.5) -> dict:
    """Where the wall time goes against the floor: the embed jobs' seconds, the wall outside them, the ratio the DAG
    would reach with its embedding exactly at the floor and everything else as measured, and each other rule's
    seconds as a share of the floor (the rules that alone take more than ``target`` - 1 of it cannot fit)."""
    embed = rules.get("embed", {}).get("seconds", 0.0)
    others = {name: round(r["seconds"] / floor, 3) for name, r in rules.items() if name != "embed"}
    return {"target_ratio": target, "target_wall_seconds": round(target * floor, 1),
            "embed_seconds": round(embed, 1), "embed_over_floor": round(embed / floor, 3),
            "wall_outside_embed_seconds": round(wall - embed, 1),
            "ratio_with_embed_at_floor": round((wall - embed + floor) / floor, 2),
            "other_rules_over_floor": dict(sorted(others.items(), key=lambda kv: -kv[1]))}


def run_segment(configfile: Path, workdir: Path, cores: int, resume: bool, keep_going: bool = False) -> dict:
    """One snakemake run in workdir: from empty results, or (resume) going on from what an earlier segment left;
    ``keep_going``: a failed job stops only what depends on it."""
    if workdir.exists() and not resume:
        shutil.rmtree(workdir)  # from empty results: a leftover run would make every rule a no-op
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", str(cores),
           "--configfile", str(configfile.resolve()), "--quiet", "rules"]
    if resume:  # a hard-killed snakemake leaves its lock; a stopped job leaves files marked incomplete
        subprocess.run([*cmd, "--unlock"], cwd=workdir, check=True, capture_output=True)
        cmd.append("--rerun-incomplete")
    if keep_going:
        cmd.append("--keep-going")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    before = cpu_ticks()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir)
    try:
        returncode = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached snakemake too: it stops its jobs and exits (subprocess.run would
        returncode = proc.wait()  # kill it at once, leaving its lock); then this segment is recorded
    wall = time.perf_counter() - t0
    # the largest resident set of any finished descendant (snakemake itself or one of its jobs)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"started": started, "command": " ".join(cmd), "returncode": returncode, "wall_seconds": round(wall, 1),
            "peak_rss_mb_largest_process": round(peak_kb / 1024, 1),
            "cpu_steal_share": steal_share(before, cpu_ticks())}


def run_dag(configfile: Path, workdir: Path, cores: int, resume: bool = False, keep_going: bool = False) -> dict:
    """Run a segment and total it with the earlier ones of this workdir (none unless resume)."""
    ledger = workdir / "dag_time-segments.json"
    earlier = json.loads(ledger.read_text()) if resume and ledger.exists() else []
    segments = [*earlier, run_segment(configfile, workdir, cores, resume, keep_going)]
    write_json(ledger, segments)
    wall = sum(s["wall_seconds"] for s in segments)
    return {"command": segments[-1]["command"], "returncode": segments[-1]["returncode"],
            "wall_seconds": round(wall, 1), "wall_minutes": round(wall / 60, 2),
            "peak_rss_mb_largest_process": max(s["peak_rss_mb_largest_process"] for s in segments),
            "cpu_steal_share": segments[-1]["cpu_steal_share"], "segments": segments,
            "report_written": (workdir / "report" / "index.html").exists()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "lfw-mini.yaml")
    ap.add_argument("--workdir", type=Path, default=ROOT.parent / "facebench-dag-bench")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--no-floor", action="store_true", help="skip the forward-compute floor after the DAG")
    ap.add_argument("--resume", action="store_true",
                    help="keep the workdir and go on from an earlier, stopped segment; the wall times add up")
    ap.add_argument("--rules-only", type=Path, metavar="RESULTS",
                    help="sum the benchmark files of an existing run's results folder; run nothing")
    a = ap.parse_args()
    profile = yaml.safe_load(a.configfile.read_text())["profile"]
    if a.rules_only:
        out = {"profile": profile, "mode": "rules-only", "results": str(a.rules_only.resolve())}
        out["rules"] = rule_times(a.rules_only)
    else:
        out = {"profile": profile, "mode": "from empty results", "cores": a.cores,
               **run_dag(a.configfile, a.workdir, a.cores, a.resume)}
        out["rules"] = rule_times(a.workdir / "results")
        forwards = embedded_forwards(a.workdir / "results")
        if forwards and not a.no_floor:
            out["forward_floor"] = floor_seconds(forwards, streams=a.cores)
            out["wall_over_floor"] = round(out["wall_seconds"] / out["forward_floor"]["floor_seconds"], 2)
            out["floor_budget"] = floor_budget(out["wall_seconds"], out["rules"], out["forward_floor"]["floor_seconds"])
    out["benchmarked_rule_seconds_sum"] = round(sum(r["seconds"] for r in out["rules"].values()), 1)
    write(f"dag_time-{profile}", out)
    return 0 if out.get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
