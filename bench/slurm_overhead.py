"""Scheduling overhead of the smoke DAG: the same workflow run locally (--cores = this machine's cores) and submitted
through profiles/slurm to a running SLURM cluster (CI's is .ci/slurm-up: one node, this machine's cores), sized to
the node (--cores, --resources mem_mb).

Writes results/bench/slurm_overhead.json: wall time of both runs, the SLURM jobs the run submitted (group jobs count
once), how long they waited in the queue (submit to start) and ran (start to end, by SLURM's clock), and the overhead
per submitted job. The SLURM run polls job states every 5 s (slurm-init-seconds-before-status-checks), as CI does.
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED, write  # noqa: E402


def smoke_config(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "smoke.yaml"
    out.write_text((ROOT / "config" / "smoke.yaml").read_text().replace("../shared/data", str(SHARED)))
    return out


def run(workdir: Path, *options: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(smoke_config(workdir)), *options]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake {' '.join(options)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def profile_groups() -> set[str]:
    return set(yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["groups"].values())


def node_mem_mb() -> int:
    """The largest memory a job may ask for here: the smallest node's (sinfo), as the profile's `resources` says."""
    out = subprocess.run(["sinfo", "-h", "-o", "%m"], capture_output=True, text=True, check=True).stdout
    return min(int(v.rstrip("+")) for v in out.split())


def slurm_jobs(run_id: str) -> list[dict]:
    out = subprocess.run(["squeue", "--states=all", "-h", "--name", run_id, "-o", "%i|%T|%V|%S|%e|%k"],
                         capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        job_id, state, submit, start, end, comment = line.split("|")
        jobs.append({"id": job_id, "state": state, "comment": comment,
                     "queued_s": (datetime.fromisoformat(start) - datetime.fromisoformat(submit)).total_seconds(),
                     "ran_s": (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()})
    return jobs


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"needs the real data in {SHARED}")
    cores = os.cpu_count()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        local_s, local_log = run(Path(tmp) / "local", "--cores", str(cores))
        slurm_s, slurm_log = run(Path(tmp) / "slurm", "--profile", str(ROOT / "profiles" / "slurm"),
                                 "--cores", str(cores), "--resources", f"mem_mb={node_mem_mb()}",
                                 "--slurm-init-seconds-before-status-checks", "5")
    steps = int(re.findall(r"(\d+) of (\d+) steps \(100%\) done", local_log)[-1][1])
    jobs = slurm_jobs(re.search(r"SLURM run ID: (\S+)", slurm_log).group(1))
    result = {
        "dag": "config/smoke.yaml",
        "machine_cores": cores,
        "snakemake_jobs": steps,
        "local_wall_s": round(local_s, 1),
        "slurm_wall_s": round(slurm_s, 1),
        "slurm_jobs_submitted": len(jobs),
        # a group job's comment is rule_<group>_<its rules>
        "slurm_group_jobs": sum(j["comment"].startswith(tuple(f"rule_{g}_" for g in profile_groups())) for j in jobs),
        "slurm_jobs_not_completed": [j["id"] for j in jobs if j["state"] != "COMPLETED"],
        "slurm_queue_wait_median_s": statistics.median(j["queued_s"] for j in jobs),
        "slurm_queue_wait_max_s": max(j["queued_s"] for j in jobs),
        "slurm_job_runtime_sum_s": sum(j["ran_s"] for j in jobs),
        "overhead_s": round(slurm_s - local_s, 1),
        "overhead_per_submitted_job_s": round((slurm_s - local_s) / len(jobs), 2),
        # other work on the machine inflates both runs: the 1-minute load average before and after
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    write("slurm_overhead", result)


if __name__ == "__main__":
    main()
