"""The SLURM profile (profiles/slurm): its settings, and the smoke workflow submitted through it to a real cluster.

The cluster test reads the session's shared smoke run (tests/smoke.py), which goes through SLURM where a cluster
with the profile's partitions answers (CI starts one on localhost with .ci/slurm-up); without one the test skips,
unless FACEBENCH_REQUIRE_SLURM is set (as .ci/run does), when the run fails. One job is given too little memory on
its first attempt on purpose: SLURM must kill it, Snakemake must see the failure and submit it again with the memory
the retry asks for.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT
from smoke import PROFILE, STARVED_RULE, absolute_config


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def resource(expression: str, attempt: int):
    """A profile resource expression evaluated as Snakemake does (a Python expression of `attempt`)."""
    return eval(expression, {"attempt": attempt})  # noqa: S307 - the profile's own expressions, as Snakemake evals them


def workflow_rules() -> set[str]:
    # config.yaml (download sources) parses without ../shared, which smoke.yaml reads; the rules are the same
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "--configfile", "config.yaml"],
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


def test_a_group_job_asks_for_its_largest_job_not_the_sum():
    # the job step executor runs a group's jobs one at a time: one local-scope slot per group stacks them in series
    p = profile()
    assert p["resources"]["serial_slot"] == 1 and p["default-resources"]["serial_slot"] == 1
    assert p["set-resource-scopes"] == {"serial_slot": "local"}


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

    smoke = absolute_config(tmp_path).read_text()  # on the real data or the generated (tests/smoke.py)
    jobs = dict(re.findall(r"rule (\w+):.*?resources: ([^\n]*)", dry_run(smoke), re.S))
    assert "gpu=1" in jobs["embed"] and "gpu=0" in jobs["train"]  # smoke: embed auto, train cpu
    cpu = yaml.safe_load(smoke)
    cpu["embed"] = {"device": "cpu"}
    jobs = dict(re.findall(r"rule (\w+):.*?resources: ([^\n]*)", dry_run(yaml.safe_dump(cpu)), re.S))
    assert "gpu=0" in jobs["embed"]


def slurm_jobs(run_id: str) -> list[dict]:
    """Every job of one Snakemake run that the controller still knows (finished ones stay for MinJobAge). `rule` is
    the job's comment without its wildcards: rule_<name>, or rule_<group>_<its rules> for a group job."""
    out = subprocess.run(["squeue", "--states=all", "-h", "--name", run_id, "-o", "%i|%T|%k|%P"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    jobs = [dict(zip(("id", "state", "comment", "partition"), line.split("|"))) for line in out.splitlines()
            if line.strip()]
    return [{**j, "rule": j["comment"].split("_wildcards")[0]} for j in jobs]


@pytest.mark.integration
def test_the_smoke_workflow_runs_through_slurm(smoke_run):
    """The shared smoke run (tests/smoke.py) went through SLURM: the pipeline tests check its results, this its jobs.
    Plumbing: on the real or the generated data."""
    if smoke_run.executor != "slurm":
        pytest.skip(f"the smoke run used the local executor: {smoke_run.why_local}")
    work, out = smoke_run.work, smoke_run.log
    assert (work / "report" / "index.html").is_file()

    # every job but the target rule `all` and the downloads (local rules: nodes may have no network) went through
    # sbatch (alone or in a group job)
    downloads = {"fetch_dataset", "fetch_mtcnn_weights", "fetch_weights"}
    assert set(re.findall(r"^localrule (\w+):", out, re.M)) == {"all"} | downloads
    planned = re.search(r"^total\s+(\d+)\s*$", out, re.M).group(1)  # the job stats table Snakemake prints first
    assert re.findall(r"(\d+) of (\d+) steps \(100%\) done", out)[-1] == (planned, planned)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", out))
    jobs = slurm_jobs(re.search(r"SLURM run ID: (\S+)", out).group(1))
    assert {j["id"] for j in jobs} == submitted
    for group in ("prepare", "embed", "evaluate"):  # the profile's groups reached SLURM
        assert any(j["rule"].startswith(f"rule_{group}_") for j in jobs), group
    # the starved job: killed by SLURM, seen as failed, and completed on its second attempt; every other job completed
    failed = [j for j in jobs if j["state"] != "COMPLETED"]
    assert [(j["state"], j["rule"]) for j in failed] == [("FAILED", f"rule_{STARVED_RULE}")]
    assert re.search(r"Trying to restart job \d+", out)
    completed = [j["rule"] for j in jobs if j["state"] == "COMPLETED"]
    assert completed.count(f"rule_{STARVED_RULE}") == 1
    # GPU requests reached SLURM: the embedding groups ran on the gpu partition, the CPU-only training on cpu
    partitions = {(j["rule"].split("_")[1], j["partition"]) for j in jobs}
    assert ("embed", "gpu") in partitions and ("train", "cpu") in partitions
    assert ("embed", "cpu") not in partitions
