"""The smoke workflow that the integration tests share, run once per session: through profiles/slurm where a SLURM
cluster with the profile's partitions answers (CI starts one on localhost with .ci/slurm-up), else with the local
executor. One run serves both, so the cluster costs CI only its scheduling overhead. FACEBENCH_REQUIRE_SLURM (set by
.ci/run) turns a missing cluster into a failure instead of a local run.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SHARED

PROFILE = ROOT / "profiles" / "slurm"
STARVED_RULE = "degrade"  # one job, early in the DAG, with work downstream of it: given too little memory on purpose


def snakemake(workdir: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    """The workflow with the local executor on 2 cores."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


def absolute_config(tmp: Path, name: str = "smoke.yaml", edit=None) -> Path:
    """The shipped profile with ../shared paths made absolute (the test runs in a temporary folder)."""
    text = (ROOT / "config" / name).read_text().replace("../shared/data", str(SHARED))
    cfg = yaml.safe_load(text)
    if edit:
        edit(cfg)
    out = tmp / name
    out.write_text(yaml.safe_dump(cfg))
    return out


def slurm_cluster_problem() -> str | None:
    """Why the profile cannot submit here, or None: sinfo must answer and list the profile's partitions."""
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return "no SLURM client (sinfo, sbatch) on PATH; .ci/slurm-up starts a cluster on localhost (root, Debian)"
    info = subprocess.run(["sinfo", "-h", "-o", "%P %a"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return f"sinfo failed, no SLURM controller reachable: {info.stderr.strip()}"
    partitions = {line.split()[0].rstrip("*") for line in info.stdout.splitlines() if line.strip()}
    if not {"cpu", "gpu"} <= partitions:
        return f"the cluster's partitions {sorted(partitions)} are not profiles/slurm/partitions.yaml's (cpu, gpu)"
    return None


def ci_profile(folder: Path) -> Path:
    """profiles/slurm sized for the CI node (2 CPUs, 19 GB), polling every few seconds instead of 40 s, and starving
    one job of memory on its first attempt."""
    p = yaml.safe_load((PROFILE / "config.yaml").read_text())
    p["slurm-init-seconds-before-status-checks"] = 5
    p["latency-wait"] = 5
    # one CPU per job: the smoke jobs are seconds long and a group runs its jobs one at a time, so two jobs side by
    # side on the 2-CPU node beat one job with two threads
    p["cores"] = 1
    p["resources"]["mem_mb"] = 16000
    # CPD's 16 GB is for full LFW; the smoke CPD of 100 points would otherwise hold the whole node by itself
    p["set-resources"]["cpd"]["mem_mb"] = "4000 * 2 ** (attempt - 1)"
    p["slurm-partition-config"] = str(PROFILE / p["slurm-partition-config"])
    # 50 MB cannot hold the job's own Snakemake process: SLURM kills it; attempt 2 asks for 4 GB
    p["set-resources"][STARVED_RULE] = {"mem_mb": "50 if attempt == 1 else 4000"}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(p))
    return folder


def submit(workdir: Path, profile_dir: Path, config: Path, timeout: float = 1500) -> tuple[int, str]:
    """Runs Snakemake with the profile; on a timeout it sends SIGINT, which makes Snakemake scancel its jobs."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--profile", str(profile_dir)]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        pytest.fail(f"the SLURM run took over {timeout} s and was cancelled:\n{out[-5000:]}")
    return proc.returncode, out


@dataclass
class SmokeRun:
    work: Path  # the run's working directory (results/, report/)
    config: Path
    executor: str  # "slurm" or "local"
    log: str  # Snakemake's output
    why_local: str | None  # why it did not go through SLURM


def run_smoke(folder: Path) -> SmokeRun:
    work = folder / "work"
    work.mkdir()
    cfg = absolute_config(work)
    problem = slurm_cluster_problem()
    if problem and os.environ.get("FACEBENCH_REQUIRE_SLURM"):
        pytest.fail(f"FACEBENCH_REQUIRE_SLURM is set (.ci/run), but {problem}")
    if problem is None:
        code, out = submit(work, ci_profile(folder / "profile"), cfg)
    else:
        result = snakemake(work, cfg)
        code, out = result.returncode, result.stdout + result.stderr
    assert code == 0, out[-6000:]
    return SmokeRun(work, cfg, "local" if problem else "slurm", out, problem)
