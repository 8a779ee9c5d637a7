"""The workflow passes Snakemake's linter and is formatted by the pinned snakefmt (requirements.txt), as CI checks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HAVE_SHARED, SHARED
from smoke import absolute_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("profile", ["config/smoke.yaml", "config/studies-mini.yaml"])
def test_snakemake_lint_is_clean(profile, tmp_path):
    # the profiles' local paths are checked at parse time: where ../shared/data is not beside the checkout, lint the
    # profile pointed at this session's data (FACEBENCH_SHARED's, or the generated dataset: tests/smoke.py)
    if not HAVE_SHARED or SHARED != (ROOT.parent / "shared" / "data").resolve():
        profile = str(absolute_config(tmp_path, Path(profile).name))
    result = run("snakemake", "--lint", "--configfile", profile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefiles_are_formatted_by_the_pinned_snakefmt():
    result = run("snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow/rules`:\n{result.stdout}{result.stderr}"


def rule_bodies() -> dict[str, str]:
    """{rule name: its text} of every rule in workflow/rules/*.smk."""
    import re

    out = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        out.update(zip(parts[1::2], parts[2::2]))
    return out


def test_the_rules_that_download_are_local_rules_in_no_group():
    """Cluster nodes often have no network: a rule that fetches runs in the main Snakemake process. The flag is set in
    the rule (`localrule: True`), which survives the renaming of `use rule * from facebench as fb_*`; a group job is
    submitted whole, so the SLURM profile must not group such a rule."""
    import yaml

    bodies = rule_bodies()
    fetching = {name for name, body in bodies.items() if "facebench fetch-" in body}
    assert fetching == {"fetch_dataset", "fetch_mtcnn_weights", "fetch_weights"}
    local = {name for name, body in bodies.items() if "    localrule: True\n" in body}
    assert local == fetching
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert not fetching & set(profile.get("groups", {}))


def test_every_rule_logs_and_benchmarks_one_way_and_takes_its_threads_from_config():
    import re

    for name, body in rule_bodies().items():
        assert "\n    log:\n" in body and "\n    benchmark:\n" in body, name
        # under a folder named for the rule: the module test and the per-rule timings find them by name
        assert f'\n    log:\n        f"{{RESULTS}}/logs/{name}/' in body, name
        assert f'\n    benchmark:\n        f"{{RESULTS}}/benchmarks/{name}/' in body, name
        shell = re.match(r"(?:        .*\n)+", body.split("\n    shell:\n", 1)[1]).group(0)  # its indented lines
        assert shell.rstrip().endswith('> {log} 2>&1"') and "tee" not in shell, name  # common.smk says why
        threads = re.search(r"^    threads: (.*)$", body, re.M)
        assert threads is None or "config[" in threads.group(1), (name, threads.group(1))
        params = body.split("\n    params:\n", 1)[1].split("\n    shell:\n")[0] if "\n    params:\n" in body else ""
        assert "results/" not in params and "RESULTS" not in params, name  # folders come from the outputs
