"""The workflow passes Snakemake's linter and is formatted by the pinned snakefmt (requirements.txt), as CI checks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*cmd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("profile", ["config/smoke.yaml", "config/studies-mini.yaml"])
def test_snakemake_lint_is_clean(profile):
    if not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("../shared/data is not beside the checkout: the profiles' local paths are checked at parse time")
    result = run("snakemake", "--lint", "--configfile", profile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefiles_are_formatted_by_the_pinned_snakefmt():
    result = run("snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow/rules`:\n{result.stdout}{result.stderr}"
