"""The smoke workflow that the integration tests share, run once per session: through profiles/slurm where a SLURM
cluster with the profile's partitions answers (CI starts one on localhost with .ci/slurm-up), else with the local
executor. One run serves both, so the cluster costs CI only its scheduling overhead. FACEBENCH_REQUIRE_SLURM (set by
.ci/run) turns a missing cluster into a failure instead of a local run.

The data: the real LFW subset of ../shared/data where it exists, else the dataset tests/synthetic.py generates (once
per test process), with the profile's paths and checksums pointed at it. config/smoke.yaml itself always names
../shared/data; every test takes its config from ``absolute_config``.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import standins
import synthetic
import yaml
from conftest import HAVE_SHARED, ROOT, SHARED

PROFILE = ROOT / "profiles" / "slurm"
STARVED_RULE = "degrade"  # one job, early in the DAG, with work downstream of it: given too little memory on purpose


def rule_env() -> dict:
    """This environment with this interpreter's bin first on PATH: the rules call `python`, which must be this one
    (with torch and the rest) whether or not the virtual environment was activated."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def snakemake(workdir: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    """The workflow with the local executor on 2 cores."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=rule_env())


DATA = "real" if HAVE_SHARED else "synthetic"  # what the DAG tests run on


@functools.cache
def generated() -> synthetic.Dataset:
    """The generated dataset, built once per test process in a temporary folder that is removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="facebench-synthetic-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return synthetic.build(folder / "data")


def data_root() -> Path:
    """What stands for ../shared/data in this session: the real copy, or the generated one."""
    return SHARED if HAVE_SHARED else generated().root


def absolute_config(tmp: Path, name: str = "smoke.yaml", edit=None) -> Path:
    """The shipped profile with its ../shared/data paths made absolute (the test runs in a temporary folder): the
    real copy where it exists, else the generated dataset, every sha256 of a file it replaces recomputed."""
    text = (ROOT / "config" / name).read_text()
    if HAVE_SHARED:
        cfg = yaml.safe_load(text.replace("../shared/data", str(SHARED)))
    else:
        cfg = synthetic.derive_config(yaml.safe_load(text), generated())
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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=rule_env())
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
    data: str = DATA  # "real" (../shared/data) or "synthetic" (tests/synthetic.py)


def run_smoke(folder: Path) -> SmokeRun:
    work = folder / "work"
    work.mkdir()
    # the smoke profile plus an ONNX model and a checkpoint imported by order, both stand-ins made here
    cfg = absolute_config(work, edit=lambda c: standins.add_to_profile(c, work))
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
