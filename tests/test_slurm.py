"""The SLURM profile (profiles/slurm): its settings, and the smoke workflow submitted through it to a real cluster.

The cluster test needs a running SLURM whose partitions are the profile's (CI starts one on localhost with
.ci/slurm-up); without one it skips, unless FACEBENCH_REQUIRE_SLURM is set (as .ci/run does), when it fails. One
job is given too little memory on its first attempt on purpose: SLURM must kill it, Snakemake must see the failure
and submit it again with the memory the retry asks for.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SHARED, needs_shared

PROFILE = ROOT / "profiles" / "slurm"
FAILING_RULE = "degrade"  # one job, early in the DAG, with work downstream of it


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def resource(expression: str, attempt: int):
    """A profile resource expression evaluated as Snakemake does (a Python expression of `attempt`)."""
    return eval(expression, {"attempt": attempt})  # noqa: S307 - the profile's own expressions, as Snakemake evals them


def workflow_rules() -> set[str]:
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "--configfile", "config/smoke.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


def test_every_resource_doubles_on_each_retry():
    p = profile()
    assert p["retries"] >= 1
    expressions = [p["default-resources"], *p["set-resources"].values()]
    for resources in expressions:
        for name in ("mem_mb", "runtime"):
            if name in resources:
                first, second, third = (resource(resources[name], a) for a in (1, 2, 3))
                assert 0 < first and second == 2 * first and third == 2 * second, (name, resources[name])


def test_the_profile_sets_resources_of_real_rules_only():
    assert set(profile()["set-resources"]) <= workflow_rules()


def test_the_status_command_works_without_accounting():
    # sacct needs slurmdbd; squeue answers on every cluster
    assert profile()["slurm-status-command"] == "squeue"


def test_the_workflow_profile_leaves_executor_settings_to_the_executor_profile():
    # Snakemake reads profiles/default on every run and its values win over --profile's: a `cores` or `latency-wait`
    # there would silently replace profiles/slurm's
    local = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert set(local) <= {"show-failed-logs", "rerun-incomplete"}, set(local)


def test_partitions_send_gpu_jobs_to_the_gpu_partition():
    p = profile()
    partitions = yaml.safe_load((PROFILE / p["slurm-partition-config"]).read_text())["partitions"]
    assert {name for name, limits in partitions.items() if limits.get("max_gpu", 0) > 0} == {"gpu"}
    assert {name for name, limits in partitions.items() if limits.get("max_gpu", 0) == 0} == {"cpu"}


def test_gpu_rules_ask_for_gpus_only_when_their_device_is_not_cpu(tmp_path):
    """The dry run's job resources: embed asks for one GPU with device auto, none with cpu; train as its config."""
    def dry_run(config_text):
        cfg = tmp_path / "smoke.yaml"
        cfg.write_text(config_text)
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg), "--forceall",
                              "--directory", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return out.stdout

    smoke = (ROOT / "config" / "smoke.yaml").read_text().replace("../shared/data", str(SHARED))
    jobs = dict(re.findall(r"rule (\w+):.*?resources: ([^\n]*)", dry_run(smoke), re.S))
    assert "gpu=1" in jobs["embed"] and "gpu=0" in jobs["train"]  # smoke: embed auto, train cpu
    cpu = yaml.safe_load(smoke)
    cpu["embed"] = {"device": "cpu"}
    jobs = dict(re.findall(r"rule (\w+):.*?resources: ([^\n]*)", dry_run(yaml.safe_dump(cpu)), re.S))
    assert "gpu=0" in jobs["embed"]


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
    """profiles/slurm as CI runs it: polls every few seconds instead of 40 s, and starves one job on attempt 1."""
    p = profile()
    p["slurm-init-seconds-before-status-checks"] = 5
    p["latency-wait"] = 5
    p["cores"] = 2  # the CI node's size (.ci/slurm-up)
    p["resources"] = {"mem_mb": 16000}
    p["slurm-partition-config"] = str(PROFILE / p["slurm-partition-config"])
    # 50 MB cannot hold the job's own Snakemake process: SLURM kills it; attempt 2 asks for 4 GB
    p["set-resources"][FAILING_RULE] = {"mem_mb": "50 if attempt == 1 else 4000"}
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


def slurm_jobs(run_id: str) -> list[dict]:
    """Every job of one Snakemake run that the controller still knows (finished ones stay for MinJobAge). `rule` is
    the job's comment without its wildcards: rule_<name>, or rule_<group>_<its rules> for a group job."""
    out = subprocess.run(["squeue", "--states=all", "-h", "--name", run_id, "-o", "%i|%T|%k|%P"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    jobs = [dict(zip(("id", "state", "comment", "partition"), line.split("|"))) for line in out.splitlines()
            if line.strip()]
    return [{**j, "rule": j["comment"].split("_wildcards")[0]} for j in jobs]


@pytest.mark.integration
@needs_shared
def test_the_smoke_workflow_runs_through_slurm(tmp_path):
    problem = slurm_cluster_problem()
    if problem and os.environ.get("FACEBENCH_REQUIRE_SLURM"):
        pytest.fail(f"FACEBENCH_REQUIRE_SLURM is set (.ci/run), but {problem}")
    if problem:
        pytest.skip(problem)
    from test_pipeline import absolute_config

    work = tmp_path / "work"
    work.mkdir()
    code, out = submit(work, ci_profile(tmp_path / "profile"), absolute_config(work))
    assert code == 0, out[-6000:]
    assert (work / "report" / "index.html").is_file()

    # every job but the target rule `all` went through sbatch (alone or in a group job): none ran in this process
    assert set(re.findall(r"^localrule (\w+):", out, re.M)) == {"all"}
    planned = re.search(r"^total\s+(\d+)\s*$", out, re.M).group(1)  # the job stats table Snakemake prints first
    assert re.findall(r"(\d+) of (\d+) steps \(100%\) done", out)[-1] == (planned, planned)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", out))
    jobs = slurm_jobs(re.search(r"SLURM run ID: (\S+)", out).group(1))
    assert {j["id"] for j in jobs} == submitted
    assert any(j["rule"].startswith("rule_evaluate_") for j in jobs)  # the profile's groups reached SLURM
    # the starved job: killed by SLURM, seen as failed, and completed on its second attempt; every other job completed
    failed = [j for j in jobs if j["state"] != "COMPLETED"]
    assert [(j["state"], j["rule"]) for j in failed] == [("FAILED", f"rule_{FAILING_RULE}")]
    assert re.search(r"Trying to restart job \d+", out)
    completed = [j["rule"] for j in jobs if j["state"] == "COMPLETED"]
    assert completed.count(f"rule_{FAILING_RULE}") == 1
    # GPU requests reached SLURM: embed (device auto) ran on the gpu partition, the CPU-only training on cpu
    partitions = {(j["rule"], j["partition"]) for j in jobs}
    assert ("rule_embed", "gpu") in partitions and ("rule_train", "cpu") in partitions
    assert ("rule_embed", "cpu") not in partitions
